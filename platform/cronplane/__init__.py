"""cronplane: scheduled jobs on AWS Lambda from one jobs.yaml.

Kept empty on purpose: this package also ships inside every Lambda zip (for
``cronplane.runtime``), so importing it must not pull in deploy-time libraries.
"""

__version__ = "0.1.0"
