package netns

import (
	"os"
	"strings"
)

// RequireEnv is the environment variable that turns a skip for missing
// namespaces into a failure (CI sets it where namespaces must work).
const RequireEnv = "EMBER_REQUIRE_NETNS"

// requiredFromEnv reads RequireEnv: any value but "", "0" and "false".
func requiredFromEnv() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(RequireEnv))) {
	case "", "0", "false", "no":
		return false
	}
	return true
}
