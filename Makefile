# Quanta: the two set-up-free commands of the README.
#   make demo   installs what it needs, fetches the assets, builds in release mode and runs the main job
#   make test   installs what it needs, fetches the assets, runs the unit tests (debug build), the
#               model tests against the outside oracles (release build: debug Swift is 10-50x slower) and
#               the C kernel paths test natively and for ARM64 under qemu-user (make test-arm)
SWIFT ?= swift

.PHONY: demo test unit-test model-test test-arm deps assets release clean

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

# The ARM64 kernel paths (NEON sdot, i8mm usdot) against the reference and the portable path, cross-compiled
# and run under qemu-user (-cpu max has both extensions); the same C driver also runs natively.
KERNELS = $(addprefix Sources/QuantaKernels/,int8_gemm.c generic.c arch/x86.c arch/arm.c elementwise.c)
KERNEL_FLAGS = -O2 -ffp-contract=off -ISources/QuantaKernels/include -ISources/QuantaKernels
test-arm:
	@scripts/install-deps --arm
	mkdir -p .build/arm
	aarch64-linux-gnu-gcc $(KERNEL_FLAGS) -static Tests/CKernelTests/kernel_paths_test.c $(KERNELS) -o .build/arm/kernel_paths_test -lm
	qemu-aarch64 -cpu max .build/arm/kernel_paths_test
	cc $(KERNEL_FLAGS) Tests/CKernelTests/kernel_paths_test.c $(KERNELS) -o .build/arm/kernel_paths_test_native -lm
	.build/arm/kernel_paths_test_native

test: unit-test model-test test-arm

clean:
	rm -rf .build
