# Quanta: the two set-up-free commands of the README.
#   make demo   installs what it needs, fetches the assets, builds in release mode and runs the main job
#   make test   installs what it needs, fetches the assets, runs the unit tests (debug build) and the
#               model tests against the outside oracles (release build: debug Swift is 10-50x slower)
SWIFT ?= swift

.PHONY: demo test unit-test model-test deps assets release clean

deps:
	@scripts/install-deps

assets: deps
	@scripts/fetch-assets

release: deps
	$(SWIFT) build -c release --product quanta

demo: assets release
	@scripts/demo

unit-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip QuantaModelTests

model-test: assets
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build --filter QuantaModelTests

test: unit-test model-test

clean:
	rm -rf .build
