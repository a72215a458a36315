"""Training metrics: which regexes a job's log is read with, and where the values go.

* The built-in algorithms come with their own metric definitions (DescribeTrainingJob shows them in
  ``AlgorithmSpecification.MetricDefinitions``); the image-classification algorithm's are
  ``train:accuracy`` and ``validation:accuracy`` (AWS: "Tune an Image Classification Model"), read
  from the lines it prints, ``Epoch[N] Train-accuracy=...`` and ``Epoch[N] Validation-accuracy=...``.
* Any image's own ``MetricDefinitions`` (a name and a regex whose first group is the value) are used
  as given; a definition with a built-in's name replaces the built-in's.
* Every value found goes to DescribeTrainingJob's ``FinalMetricDataList`` (the last value of each
  metric) and to CloudWatch metrics, namespace ``/aws/sagemaker/TrainingJobs``, dimension
  ``TrainingJobName`` (what the SDK's ``TrainingJobAnalytics`` reads), when the job ends. Publishing
  is best effort: a cloud without CloudWatch metrics leaves the log line, never fails the job.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_emulator import aws
from sagemaker_emulator.errors import ValidationException
from sagemaker_emulator.images import BUILTIN_IMAGE_CLASSIFICATION

log = logging.getLogger(__name__)

NAMESPACE = "/aws/sagemaker/TrainingJobs"
_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
BUILTIN_METRICS: tuple[tuple[re.Pattern[str], tuple[dict[str, str], ...]], ...] = (
    (
        re.compile(BUILTIN_IMAGE_CLASSIFICATION),
        (
            {"Name": "train:accuracy", "Regex": r"Epoch\[\d+\] Train-accuracy=" + _NUMBER},
            {"Name": "validation:accuracy", "Regex": r"Epoch\[\d+\] Validation-accuracy=" + _NUMBER},
        ),
    ),
)


def definitions(algorithm: dict[str, Any]) -> list[dict[str, str]]:
    """The metric definitions a job's log is read with: the built-in's, then the request's."""
    given = list(algorithm.get("MetricDefinitions") or [])
    names = {d["Name"] for d in given}
    image = algorithm.get("TrainingImage", "")
    builtin = next((defs for pattern, defs in BUILTIN_METRICS if pattern.fullmatch(image)), ())
    return [dict(d) for d in builtin if d["Name"] not in names] + given


def check(algorithm: dict[str, Any]) -> None:
    """CreateTrainingJob's check of the request's regexes: each compiles and captures the value."""
    for d in algorithm.get("MetricDefinitions") or []:
        try:
            groups = re.compile(d["Regex"]).groups
        except re.error as exc:
            raise ValidationException(
                f"Metric definition {d['Name']!r}: the regex {d['Regex']!r} is not valid: {exc}"
            ) from exc
        if groups < 1:
            raise ValidationException(
                f"Metric definition {d['Name']!r}: the regex {d['Regex']!r} has no capturing group "
                "for the value"
            )


class MetricReader:
    """Reads log lines of one job; keeps every sample (for CloudWatch) and hands each to ``record``."""

    def __init__(self, algorithm: dict[str, Any]):
        self.regexes = [(d["Name"], re.compile(d["Regex"])) for d in definitions(algorithm)]
        self.samples: list[dict[str, Any]] = []

    def feed(self, line: str) -> list[tuple[str, float]]:
        found = []
        for name, regex in self.regexes:
            match = regex.search(line)
            if match is None or match.group(1) is None:
                continue
            try:
                value = float(match.group(1))
            except ValueError:
                continue
            found.append((name, value))
            self.samples.append({"MetricName": name, "Value": value, "Timestamp": dt.datetime.now(dt.UTC)})
        return found

    def publish(self, job_name: str) -> bool:
        """Put the samples as CloudWatch metrics; False (and one log line) when CloudWatch refuses."""
        data = [{**s, "Dimensions": [{"Name": "TrainingJobName", "Value": job_name}]} for s in self.samples]
        try:
            for start in range(0, len(data), 500):
                aws.client("cloudwatch").put_metric_data(
                    Namespace=NAMESPACE, MetricData=data[start : start + 500]
                )
        except (ClientError, BotoCoreError) as exc:
            log.warning("training job %s: metrics not published to CloudWatch (%s)", job_name, exc)
            return False
        return True
