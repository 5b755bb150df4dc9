"""`sklambda`: the command line, in the spirit of the AWS CLI.

Every command accepts the global options (--output, --query, --endpoint-url, --region,
--profile, --models-bucket, --data-bucket, --debug) before or after its name. Errors print one
line on stderr and exit with code 2.

`root` holds the group and `main`; `command` how a command runs; `params` the options and
value types; `factory` the settings, clients and services built from the global options;
`output` the renderer; the other modules one group of commands each.
"""

from sklambda.cli.root import main

__all__ = ["main"]
