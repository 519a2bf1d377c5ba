namespace testbed {}
