"""``jobctl export``: the desired state written as a Terraform module or a CloudFormation
template (``writer.export``). Each resource kind writes its own part (``aws.kinds``:
``to_terraform`` / ``to_cloudformation``); ``inputs`` builds the desired state they write from,
``context`` hands them each format's way of writing a value, ``hcl`` lays out Terraform files.

This ``__init__`` imports nothing: the kinds import ``aws.export.context`` while the kind registry
is being built, and the writer needs that registry.
"""
