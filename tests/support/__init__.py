"""Helpers shared by the tests and the benchmarks (never a conftest: nothing here is a fixture).

``cifar``: small CIFAR-100 tarballs; ``training``: generated datasets in the SageMaker container layout;
``lambdas``: load a function from lambdas/ by file, as the Lambda runtime does; ``lambda_zip``: deploy a
small zip function; ``wait``: poll for a readiness signal instead of sleeping a fixed time.
"""
