# Containers from scratch, one isolation feature per step.
#
#   make rootfs            the root filesystem the steps run (Alpine, or busybox offline)
#   make build             build every step
#   make demo [STEP=N]     a guided tour of the newest step's container (root)
#   make test              the lints, every test (as root), then the guide
#   make lint              rustfmt, clippy and module cycles only
#   make diff FROM=3 TO=4  what step 4 adds to step 3, and nothing else
#   make guide             build the guide (guide/book/index.html)
#   make bench             step7, runc and crun on the same bundle; step7 pull
#                          against skopeo + umoci on the same image (hyperfine)
#   make clean

CARGO  ?= cargo
MDBOOK ?= mdbook
ROOTFS ?= rootfs
NEWEST := 6
STEP   ?= $(NEWEST)

# The directory of step N: step3 -> step3_mount_namespace.
step_dir = $(wildcard step$(1)_*)

.PHONY: all build rootfs demo test test-suite lint diff guide bench clean

all: build

build:
	$(CARGO) build --workspace --all-targets

rootfs:
	step1_chroot/mkrootfs.sh $(ROOTFS)

demo: rootfs
	$(CARGO) build -p step$(STEP)
	step1_chroot/tour.sh target/debug/step$(STEP) $(ROOTFS)

# The suite runs real containers: it needs root, and under CI a test that
# cannot run fails instead of skipping. .ci/hostcheck then checks that it
# left the host as it found it (mounts, cgroups, links, netns, nft rules,
# ip_forward, stray container processes).
test:
	.ci/hostcheck -- $(MAKE) --no-print-directory test-suite

test-suite: build lint
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory guide

# The code's shape: formatted as rustfmt.toml says, no clippy warning, and
# no two modules of a crate using each other (.ci/module-cycles).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --quiet --workspace --all-targets -- -D warnings
	.ci/module-cycles

# Only what TO adds or changes: files only in FROM are still used by TO,
# through FROM's library, and are not shown. No target/, no lock file.
diff:
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make diff FROM=3 TO=4"; exit 2; }
	@from=$(call step_dir,$(FROM)); to=$(call step_dir,$(TO)); \
	test -d "$$from" -a -d "$$to" || { echo "no step $(FROM) or step $(TO)"; exit 2; }; \
	for f in $$(cd $$to && find . -path ./target -prune -o -type f ! -name Cargo.lock -print | sed 's|^\./||' | sort); do \
		if [ -f "$$from/$$f" ]; then old="$$from/$$f"; else old=/dev/null; fi; \
		git --no-pager diff --no-index $(DIFF_FLAGS) -- "$$old" "$$to/$$f" || true; \
	done; \
	only=$$(cd $$from && find . -path ./target -prune -o -type f -print | sed 's|^\./||' | while read f; do [ -e "../$$to/$$f" ] || echo "$$f"; done | tr '\n' ' '); \
	[ -z "$$only" ] || echo "(not shown, still used through the $$from library: $$only)"

bench:
	step7_full_container/bench.sh
	step7_full_container/bench-images.sh

guide:
	guide/check-includes.sh
	cd guide && $(MDBOOK) build

clean:
	$(CARGO) clean
	rm -rf guide/book
