"""The `localstack` target's containers: images, the offline base, and the compose stack's lifecycle.

* :mod:`.engine`  which Docker engine and compose tool are used (compose v2 plugin or v1 binary), and the
  socket path the stack mounts (from ``DOCKER_HOST``, never hard-coded).
* :mod:`.offline` where no registry can be reached: a Debian base image made with ``debootstrap`` +
  ``docker import``, and the build-time pip settings (the host's CA bundle, the torch CPU wheel) that are
  copied into ``docker/offline/`` (git-ignored) for the builds.
* :mod:`.stack`   ``harness compose up|down|status``: build, start, wait on the health checks, tear down,
  and sweep what the emulator and the Lambda executor started.
"""
