package netdriver

import (
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	cases := []struct {
		in      map[string]any
		vni     uint32
		mtu     int
		wantErr string
	}{
		{in: nil},
		{in: map[string]any{OptVNI: "4097"}, vni: 4097},
		{in: map[string]any{OptMTU: "1400"}, mtu: 1400},
		{in: map[string]any{OptVNI: "0"}, wantErr: "want a VNI"},
		{in: map[string]any{OptVNI: "16777216"}, wantErr: "want a VNI"},
		{in: map[string]any{OptMTU: "9000"}, wantErr: "want an MTU"},
		{in: map[string]any{"mtu": "1400"}, wantErr: "valid options: com.docker.network.driver.mtu, xoverlay.vni"},
	}
	for _, c := range cases {
		o, err := ParseOptions(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err = %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || o.VNI != c.vni || o.MTU != c.mtu {
			t.Errorf("%v: got %+v %v", c.in, o, err)
		}
	}
}
