"""How ``harness up`` launches the SageMaker emulator: its image map and the environment it inherits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.embedded import stack


def test_the_emulator_gets_the_harness_image_map_and_none_of_the_users_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "users-real-session-token")
    monkeypatch.setenv("AWS_PROFILE", "users-production-profile")
    seen: dict[str, Any] = {}

    def fake_spawn(name: str, cmd: list[str], **kwargs: Any) -> str:
        seen.update(cmd=cmd, **kwargs)
        return "record"

    monkeypatch.setattr(stack, "spawn", fake_spawn)
    settings = Settings(home=tmp_path / "home")
    assert (
        stack._spawn_sagemaker(settings, "http://127.0.0.1:1", tmp_path / "log", tmp_path / "pid") == "record"
    )
    cmd, env = seen["cmd"], seen["env"]
    assert cmd[cmd.index("--image-map") + 1] == str(stack.SAGEMAKER_IMAGE_MAP)
    assert stack.SAGEMAKER_IMAGE_MAP.is_file()
    assert "AWS_SESSION_TOKEN" not in env and "AWS_PROFILE" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "test"
