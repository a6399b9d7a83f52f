// Package web holds the console's assets: one HTML page, its ES modules and
// its style sheet, served as they are (no build step, nothing fetched from
// elsewhere at run time). internal/console serves them at /console/.
package web

import "embed"

// FS holds index.html, the *.js modules and style.css, at its root.
//
//go:embed index.html *.js *.css
var FS embed.FS
