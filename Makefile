# Developer targets. The canonical test command is scripts/test.sh.
.PHONY: test race bench fuzz lint demo

test:
	go test -count=1 ./...

race:
	go test -race -count=1 ./...

bench:
	go test -run='^$$' -bench=. -benchmem ./...
	cd bench && go test -run='^$$' -bench=. -benchmem ./...

fuzz:
	scripts/fuzz.sh 30s

lint:
	gofmt -l . && go vet ./... && cd bench && go vet ./...

demo:
	go run ./cmd/ember demo
