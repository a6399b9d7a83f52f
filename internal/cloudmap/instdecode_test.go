package cloudmap

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeStored: the fast reader of instance records agrees with
// encoding/json on every record json.Marshal writes, reads all of those
// without escapes in their IDs, and accepts nothing encoding/json would
// read differently.
func FuzzDecodeStored(f *testing.F) {
	f.Add("i-1", "tok", "AWS_INSTANCE_IPV4", "10.0.0.1", "111122223333", int64(1796238354613), []byte(nil))
	f.Add("a<b", "", "k\"ey", "v\\al\u2028ue", "", int64(-1), []byte(`{"v":1,"id":"x","attributes":{},"createdByAccount":"","createDate":1,"updateDate":2}`))
	f.Add("", "t", "", "", "1", int64(0), []byte(`{"v":1,"id":"x","attributes":{"a":"b" },"createdByAccount":"","createDate":1,"updateDate":2}`))
	f.Fuzz(func(t *testing.T, id, token, key, val, account string, date int64, raw []byte) {
		rec := instRecord{V: 1, ID: id, CreatorRequestID: token, Attributes: map[string]string{key: val, "port": "80"},
			CreatedByAccount: account, CreateDate: date, UpdateDate: date + 1}
		b, err := json.Marshal(&rec)
		if err != nil {
			t.Skip()
		}
		for _, in := range [][]byte{b, raw} {
			var fast, slow storedInstance
			ok := decodeStored(in, &fast)
			if in == nil || !ok {
				continue
			}
			if err := json.Unmarshal(in, &slow); err != nil {
				t.Fatalf("decodeStored read %q, which encoding/json refuses: %v", in, err)
			}
			if fast.ID != slow.ID || fast.CreatorRequestID != slow.CreatorRequestID || fast.CreatedByAccount != slow.CreatedByAccount ||
				fast.CreateDate != slow.CreateDate || string(fast.Attributes) != string(slow.Attributes) {
				t.Fatalf("%q: decodeStored %+v; encoding/json %+v", in, fast, slow)
			}
			var m map[string]string
			if err := json.Unmarshal(fast.Attributes, &m); err != nil {
				t.Fatalf("attributes %q are not a map of strings: %v", fast.Attributes, err)
			}
		}
		var fast storedInstance
		if plain := func(s string) bool {
			q, _ := json.Marshal(s)
			return string(q) == `"`+s+`"`
		}; plain(id) && plain(token) && plain(account) && !decodeStored(b, &fast) {
			t.Fatalf("decodeStored refused %s", b)
		}
	})
}
