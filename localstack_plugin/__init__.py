"""Run Lambda execution environments as local Python processes instead of Docker containers.

``runtime_api`` and ``process`` use only the standard library (plus optional psutil), so they can be
tested without LocalStack; ``executor`` and ``plugin`` adapt them to LocalStack's executor interface.
"""
