"""The command-line flag (ours, removed before Flower parses the rest) that makes ``superlink_guard`` and
``supernode_verify`` run app tasks in their own process (:mod:`ppml_lab.fl.deploy.inprocess`)."""

INPROCESS_FLAG = "--ppml-inprocess-apps"
