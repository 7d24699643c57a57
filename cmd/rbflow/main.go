// Command rbflow runs rollback and recovery procedures.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "rbflow: under construction")
	os.Exit(2)
}
