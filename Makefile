# Quanta: the two set-up-free commands of the README.
#   make demo   installs what it needs, builds in release mode and runs the main job
#   make test   installs what it needs, builds and runs the test suite
SWIFT ?= swift

.PHONY: demo test deps release clean

deps:
	@scripts/install-deps

release: deps
	$(SWIFT) build -c release --product quanta

demo: release
	@scripts/demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

clean:
	rm -rf .build
