package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The binary links no gRPC: vaspd speaks OTLP over HTTP only, with an
// exporter of its own (internal/tracing/exporter.go) because the upstream
// one links the package of OTLP's gRPC service, and with it gRPC,
// grpc-gateway and genproto (10 MB). A dependency that brings them back
// fails here.
func TestBinaryLinksNoGRPC(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to list the binary's packages")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "google.golang.org/grpc") || strings.HasPrefix(pkg, "google.golang.org/genproto") ||
			strings.HasPrefix(pkg, "github.com/grpc-ecosystem/") || strings.HasPrefix(pkg, "go.opentelemetry.io/proto/otlp/collector/") {
			t.Errorf("vaspd links %s", pkg)
		}
	}
}
