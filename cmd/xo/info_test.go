package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func TestInfo(t *testing.T) {
	socket := sampleSocket(t)
	stdout, stderr, code := xo(t, socket, "info")
	want := `Version: test
Cluster ID: c1u57e4b0a5e
Node ID: zz-node
Hostname: alpha
Role: manager
Leader: true
Raft Address: 10.0.0.1:2378
Data Plane: vxlan
DNS Address: 169.254.53.53
Nodes: 3
Networks: 3
Endpoints: 4
Services: 0
Tasks: 0 (running 0)
State Dir: /var/lib/xo
Plugin Socket: /run/docker/plugins/xoverlay.sock
API Socket: /run/xo/xo.sock
Metrics Address: 127.0.0.1:9323
`
	if code != 0 || stdout != want {
		t.Errorf("code %d, stderr %q\n%s\nwant:\n%s", code, stderr, stdout, want)
	}

	stdout, _, code = xo(t, socket, "info", "--format", "json")
	var info api.Info
	if err := json.Unmarshal([]byte(stdout), &info); err != nil || code != 0 {
		t.Fatalf("code %d, %v: %s", code, err, stdout)
	}
	if info.NodeID != "zz-node" || info.Endpoints != 4 || !strings.Contains(stdout, `"dns_address": "169.254.53.53"`) {
		t.Errorf("json info: %s", stdout)
	}

	stdout, _, _ = xo(t, socket, "info", "--format", "{{.Hostname}} {{.DNSAddress}} {{.Leader}}")
	if stdout != "alpha 169.254.53.53 true\n" {
		t.Errorf("template info: %q", stdout)
	}
}

func TestVersion(t *testing.T) {
	client := "Client:\n" +
		" Version:     dev\n" +
		" API version: 1\n" +
		" Go version:  " + runtime.Version() + "\n" +
		" Git commit:  unknown\n" +
		" OS/Arch:     " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	server := strings.Replace(client, "Client:", "Server:", 1)

	stdout, stderr, code := xo(t, sampleSocket(t), "version")
	if code != 0 || stdout != client+"\n"+server {
		t.Errorf("code %d, stderr %q\n%s", code, stderr, stdout)
	}

	socket := deadSocket(t)
	stdout, stderr, code = xo(t, socket, "version")
	if code != 1 || stdout != client || !strings.HasPrefix(stderr, "Error: cannot reach the xo agent at "+socket) {
		t.Errorf("unreachable: code %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}

	stdout, _, code = xo(t, socket, "version", "--format", "json")
	var out struct {
		Client api.VersionInfo  `json:"client"`
		Server *api.VersionInfo `json:"server"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 1 || out.Server != nil || out.Client != api.BuildInfo() {
		t.Errorf("json, unreachable: code %d, %v: %s", code, err, stdout)
	}

	stdout, _, _ = xo(t, sampleSocket(t), "version", "-f", "{{.Client.APIVersion}}/{{.Server.Version}}")
	if stdout != "1/dev\n" {
		t.Errorf("template: %q", stdout)
	}
}
