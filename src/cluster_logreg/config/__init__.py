"""The front end, torch-free: every setting's type, default and valid values, the pre-flight checks,
the resolvers, `resume=`, and the entry points' skeleton. A mistake is refused here, in one line,
before the slow imports."""
