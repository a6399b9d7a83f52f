// Package browser drives the web console (/console/) in headless Debian
// Chromium with chromedp, against real servers: go test -tags browser
// ./test/browser (make test-browser). Screenshots go to $MAPMESH_ARTIFACTS
// (a temporary directory when unset). Without /usr/bin/chromium (or
// $MAPMESH_CHROMIUM) the tests skip and say so.
package browser
