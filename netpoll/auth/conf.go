package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// SaslUser is the identity every Spark RPC-env connection authenticates as
// (SecurityManager.getSaslUser), and the SASL user name for every app.
const SaslUser = "sparkSaslUser"

// SecretEnv is the environment variable through which a standalone worker
// hands the secret to the executors and drivers it launches.
const SecretEnv = "_SPARK_AUTH_SECRET"

// Ciphers of spark.network.crypto.cipher.
const (
	CipherCTR = "AES/CTR/NoPadding"
	CipherGCM = "AES/GCM/NoPadding"
)

// Conf is the authentication configuration of one transport module.
type Conf struct {
	// Enabled is spark.authenticate.
	Enabled bool
	// Secret is spark.authenticate.secret (or _SPARK_AUTH_SECRET, or the
	// Base64 of spark.authenticate.secret.file). Never log it.
	Secret string
	// CryptoEnabled is spark.network.crypto.enabled: the AuthEngine
	// protocol with AES-CTR or AES-GCM session encryption instead of SASL.
	CryptoEnabled bool
	// SaslFallback is spark.network.crypto.saslFallback.
	SaslFallback bool
	// Cipher is spark.network.crypto.cipher: CipherCTR (the default) or
	// CipherGCM. Both ends must agree; a mismatch shows as records that do
	// not decode, after the handshake.
	Cipher string
	// EngineVersion is spark.network.crypto.authEngineVersion (1 or 2).
	EngineVersion int
	// SaslEncryption is spark.authenticate.enableSaslEncryption: the SASL
	// client asks for auth-conf.
	SaslEncryption bool
	// ServerAlwaysEncrypt is spark.network.sasl.serverAlwaysEncrypt: the
	// SASL server offers only auth-conf.
	ServerAlwaysEncrypt bool
	// MaxEncryptedBlock is spark.network.sasl.maxEncryptedBlockSize.
	MaxEncryptedBlock int
	// RPCTimeout bounds each handshake round trip
	// (spark.network.auth.rpcTimeout, else spark.<module>.sasl.timeout).
	RPCTimeout time.Duration
	// HandshakeTimeout bounds, on the server, the time from accepting a
	// connection to its authentication
	// (spark.network.ember.authHandshakeTimeout, default RPCTimeout). A
	// peer that has not authenticated by then is disconnected.
	HandshakeTimeout time.Duration
}

// NewConf reads module's authentication settings. The secret comes from
// spark.authenticate.secret, then the _SPARK_AUTH_SECRET environment
// variable, then spark.authenticate.secret.file.
func NewConf(conf *sparkconf.Conf, module string) (*Conf, error) {
	if conf == nil {
		conf = sparkconf.New()
	}
	c := &Conf{}
	var errs []error
	getBool := func(key string, def bool) bool {
		v, err := conf.GetBool(key, def)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	c.Enabled = getBool("spark.authenticate", false)
	c.CryptoEnabled = getBool("spark.network.crypto.enabled", false)
	c.SaslFallback = getBool("spark.network.crypto.saslFallback", true)
	c.SaslEncryption = getBool("spark.authenticate.enableSaslEncryption", false)
	c.ServerAlwaysEncrypt = getBool("spark.network.sasl.serverAlwaysEncrypt", false)
	c.Cipher = conf.GetString("spark.network.crypto.cipher", CipherCTR)
	v, err := conf.GetInt("spark.network.crypto.authEngineVersion", 1)
	if err != nil {
		errs = append(errs, err)
	}
	c.EngineVersion = v
	block, err := conf.GetBytes("spark.network.sasl.maxEncryptedBlockSize", 64<<10, 1)
	if err != nil {
		errs = append(errs, err)
	}
	c.MaxEncryptedBlock = int(block)
	def := 30 * time.Second
	if d, err := conf.GetDuration("spark."+module+".sasl.timeout", def, time.Millisecond); err == nil {
		def = d
	} else {
		errs = append(errs, err)
	}
	if c.RPCTimeout, err = conf.GetDuration("spark.network.auth.rpcTimeout", def, time.Millisecond); err != nil {
		errs = append(errs, err)
	}
	if c.HandshakeTimeout, err = conf.GetDuration("spark.network.ember.authHandshakeTimeout", c.RPCTimeout, time.Millisecond); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if !c.Enabled {
		return c, nil
	}
	c.Secret, err = lookupSecret(conf)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func lookupSecret(conf *sparkconf.Conf) (string, error) {
	if s, ok := conf.Get("spark.authenticate.secret"); ok && s != "" {
		return s, nil
	}
	if s := os.Getenv(SecretEnv); s != "" {
		return s, nil
	}
	for _, key := range []string{"spark.authenticate.secret.file", "spark.authenticate.secret.driver.file", "spark.authenticate.secret.executor.file"} {
		if p, ok := conf.Get(key); ok && p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", fmt.Errorf("auth: %s: %w", key, err)
			}
			return base64.StdEncoding.EncodeToString(b), nil
		}
	}
	return "", errors.New("auth: spark.authenticate is true but no secret is set " +
		"(set spark.authenticate.secret, or " + SecretEnv + " in the environment)")
}

// Validate checks the combination of settings.
func (c *Conf) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.Secret == "" {
		return errors.New("auth: spark.authenticate is true but the secret is empty")
	}
	if c.EngineVersion != 1 && c.EngineVersion != 2 {
		return fmt.Errorf("auth: spark.network.crypto.authEngineVersion must be 1 or 2, got %d", c.EngineVersion)
	}
	switch {
	case strings.EqualFold(c.Cipher, CipherCTR):
	case strings.EqualFold(c.Cipher, CipherGCM):
	default:
		return fmt.Errorf("auth: spark.network.crypto.cipher: unknown cipher %q (want %s or %s)", c.Cipher, CipherCTR, CipherGCM)
	}
	if c.MaxEncryptedBlock <= 0 {
		return fmt.Errorf("auth: spark.network.sasl.maxEncryptedBlockSize must be positive, got %d", c.MaxEncryptedBlock)
	}
	if c.RPCTimeout <= 0 {
		return errors.New("auth: spark.network.auth.rpcTimeout must be positive")
	}
	return nil
}

// String describes the configuration without the secret.
func (c *Conf) String() string {
	if !c.Enabled {
		return "auth(off)"
	}
	if c.CryptoEnabled {
		return fmt.Sprintf("auth(AuthEngine v%d %s, saslFallback=%t)", c.EngineVersion, c.Cipher, c.SaslFallback)
	}
	return fmt.Sprintf("auth(SASL DIGEST-MD5, encryption=%t, serverAlwaysEncrypt=%t)", c.SaslEncryption, c.ServerAlwaysEncrypt)
}

// Secrets finds the secret of an app id (Spark's SecretKeyHolder). The
// standalone deployment has one secret for every id.
type Secrets interface {
	SecretKey(appID string) (string, bool)
}

// SingleSecret is the secret of every app id.
type SingleSecret string

// SecretKey implements Secrets.
func (s SingleSecret) SecretKey(string) (string, bool) { return string(s), s != "" }

// saslPassword encodes a secret as Spark's SASL password: Base64 of its
// UTF-8 bytes, with a newline after each 76 output characters (Netty's
// encoder with line breaks on), and no newline at the very end.
func saslPassword(secret string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(secret))
	full := len(secret) / 3 * 4 // characters from whole 3-byte groups
	var b strings.Builder
	for i := 0; i < len(enc); i++ {
		b.WriteByte(enc[i])
		if (i+1)%76 == 0 && i+1 <= full && i+1 < len(enc) {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// saslUserName encodes an identity as Spark's SASL user name.
func saslUserName(user string) string {
	return base64.StdEncoding.EncodeToString([]byte(user))
}

// SASL quality-of-protection values.
const (
	qopAuth     = "auth"
	qopAuthConf = "auth-conf"
)
