// Command submitapp is a tiny program for ember submit's tests: it prints
// what submit gave it (SPARK_MASTER, spark.app.name of SPARK_CONF_JSON and
// its arguments and its own path), then, with "sleep", sleeps until killed (at most 5
// minutes), or with "exit N", exits with N.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	conf := map[string]string{}
	if err := json.Unmarshal([]byte(os.Getenv("SPARK_CONF_JSON")), &conf); err != nil {
		fmt.Println("bad SPARK_CONF_JSON:", err)
		os.Exit(3)
	}
	fmt.Printf("SPARK_MASTER=%s\n", os.Getenv("SPARK_MASTER"))
	fmt.Printf("spark.app.name=%s\n", conf["spark.app.name"])
	fmt.Printf("spark.executor.memory=%s\n", conf["spark.executor.memory"])
	fmt.Printf("launcher port set=%v\n", os.Getenv("_SPARK_LAUNCHER_PORT") != "")
	fmt.Printf("args=%s\n", strings.Join(os.Args[1:], " "))
	exe, _ := os.Executable()
	fmt.Printf("program=%s\n", exe)
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sleep":
			time.Sleep(5 * time.Minute)
		case "exit":
			n, _ := strconv.Atoi(os.Args[2])
			os.Exit(n)
		}
	}
}
