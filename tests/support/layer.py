"""What the Lambda Python runtime already provides, and so the shared layer must not carry:
the layer comes before the runtime on sys.path, and a copy would shadow the runtime's."""

RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def distribution_of(dist_info_folder: str) -> str:
    """`python_dateutil-2.9.0.post0.dist-info` -> `python-dateutil` (normalised as PyPI names)."""
    return dist_info_folder.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-")
