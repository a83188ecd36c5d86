package core

import "strconv"

// formatID renders an ID as APIs show it: a decimal string, so JavaScript
// clients never lose precision.
func formatID(id int64) string { return strconv.FormatInt(id, 10) }
