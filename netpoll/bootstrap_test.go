package netpoll

import (
	"reflect"
	"testing"
)

// What only a bootstrap may do is not on the *Client every handler gets
// (issue #18): a handler cannot set who its peer authenticated as, lift
// the pre-authentication cap, or switch the session encryption.
func TestBootstrapMutatorsOnlyOnSetup(t *testing.T) {
	client, setup := reflect.TypeOf(&Client{}), reflect.TypeOf(&Setup{})
	for _, name := range []string{"SetClientID", "RequireAuthentication", "SetAuthenticated", "EnableEncryption", "CloseAfterWrites"} {
		if _, ok := client.MethodByName(name); ok {
			t.Errorf("*Client exports %s to every handler", name)
		}
		if _, ok := setup.MethodByName(name); !ok {
			t.Errorf("*Setup lacks %s", name)
		}
	}
}
