"""Delete a function's tags with the function, as AWS does (a LocalStack 4.9.2 bug fix).

LocalStack 4.9.2 keeps Lambda tags in a tagging service beside the function store
(``LambdaStore.TAGS``, keyed by the unqualified function ARN), and ``LambdaProvider.delete_function``
removes the function but not its tags. A function created again under the same name therefore shows
the deleted one's tags: a user's function re-created under a harness name carried
``scones-harness=managed`` and looked harness-owned, so ``harness deploy`` overwrote it without asking
(harness/ownership.py). On AWS a new function has only the tags it was created with. Upstream fixed
it after 4.9.2 (localstack/localstack#13770, "Lambda: refactor tagging": ``delete_function`` calls
``_remove_all_tags``). Everything else of a function lives in its ``Function`` object and goes with it.

This wraps ``delete_function``: after a successful delete of the whole function (no qualifier), the
unqualified ARN's tags are removed. Registered as a ``localstack.hooks.on_infra_start`` hook.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.lambda_.provider",
        "LambdaProvider.delete_function",
        "(self, context: localstack.aws.api.core.RequestContext, function_name: str, qualifier: str = None, **kwargs) -> None",  # noqa: E501 (a signature, as inspect prints it)
    ),
    Replaces(
        "localstack.services.lambda_.api_utils",
        "get_account_and_region",
        "(function_arn_or_name: str, context: localstack.aws.api.core.RequestContext) -> tuple[str, str]",
    ),
    Replaces(
        "localstack.services.lambda_.api_utils",
        "get_name_and_qualifier",
        "(function_arn_or_name: str, qualifier: str | None, context: localstack.aws.api.core.RequestContext) -> tuple[str, str | None]",  # noqa: E501
    ),
    Replaces(
        "localstack.services.lambda_.api_utils",
        "unqualified_lambda_arn",
        "(function_name: str, account: str, region: str)",
    ),
    Replaces("localstack.utils.tagging", "TaggingService.del_resource", "(self, arn: str)"),
)


@hooks.on_infra_start()
def delete_tags_with_function() -> None:
    require_localstack_version("lambda_delete_tags")
    from localstack.services.lambda_ import api_utils, provider
    from localstack.services.lambda_.invocation.models import lambda_stores

    original = provider.LambdaProvider.delete_function

    def delete_function(
        self: Any, context: Any, function_name: str, qualifier: str | None = None, **kwargs: Any
    ) -> None:
        original(self, context, function_name, qualifier, **kwargs)
        account, region = api_utils.get_account_and_region(function_name, context)
        name, parsed_qualifier = api_utils.get_name_and_qualifier(function_name, qualifier, context)
        if parsed_qualifier:
            return  # one version deleted: the function, and its tags, stay
        lambda_stores[account][region].TAGS.del_resource(
            api_utils.unqualified_lambda_arn(name, account, region)
        )

    provider.LambdaProvider.delete_function = delete_function
    applied("lambda_delete_tags")
