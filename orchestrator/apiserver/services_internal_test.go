package apiserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// fill sets every field reachable from v to a value that is not zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint16, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(0.5)
	default:
		panic("fill: add " + v.Kind().String())
	}
}

// The wire spec and the state spec have the same fields: every field of
// either survives a trip through the other.
func TestSpecConversion(t *testing.T) {
	var in state.ServiceSpec
	fill(reflect.ValueOf(&in).Elem())
	b, err := json.Marshal(specToAPI(in))
	if err != nil {
		t.Fatal(err)
	}
	var back state.ServiceSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("state -> api -> state: %v\n got %+v\nwant %+v", err, back, in)
	}

	var wire api.ServiceSpec
	fill(reflect.ValueOf(&wire).Elem())
	b, _ = json.Marshal(wire)
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(specToAPI(back), wire) {
		t.Errorf("api -> state -> api: %v\n got %+v\nwant %+v", err, specToAPI(back), wire)
	}
}
