"""attacks sub-package; see the modules for the primitives."""
