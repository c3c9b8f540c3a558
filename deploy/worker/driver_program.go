package worker

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// driverProgram is the program a cluster-mode driver runs. A Go program
// submitted by ember submit names itself twice: as the Command's MainClass
// and as the JarURL the runner copies into the driver's directory. The
// copy is what runs (made executable), so the program need not sit at its
// submitted path on the worker's host when the JarURL is http(s):// or
// spark://, and a program replaced after submission does not change a
// running driver. MainClass "{{USER_JAR}}" asks for the copy outright; a
// Java main class, or a program other than the JarURL's, is left alone.
func driverProgram(mainClass, jarURL, jar string) (string, error) {
	if isJavaMain(mainClass) {
		return mainClass, nil
	}
	use := mainClass == "{{USER_JAR}}"
	if use && jar == "" {
		return "", errors.New("the driver's command runs {{USER_JAR}} but the description has no jarUrl")
	}
	if !use && jar != "" && mainClass != "" {
		if p := localJarPath(jarURL); p != "" && filepath.Clean(p) == filepath.Clean(mainClass) {
			use = true
		}
	}
	if !use {
		return mainClass, nil
	}
	if err := os.Chmod(jar, 0o700); err != nil {
		return "", fmt.Errorf("making the driver's program %s executable: %w", jar, err)
	}
	return jar, nil
}

// localJarPath is the file path of a path, file:// or local:// jar URL,
// "" for other schemes.
func localJarPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "":
		return raw
	case "file", "local":
		return u.Path
	}
	return ""
}
