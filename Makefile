# The two commands a newcomer needs (see README.md):
#   make demo   set up, dump a real leaky Python program, analyse the dump
#   make test   run every test (Rust and Python), as CI does
.PHONY: demo test setup
demo:
	tools/demo
test:
	tools/test-all
setup:
	tools/setup --tests
