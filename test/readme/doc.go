// Package readme checks the walkthrough in README.md: its tests start a
// mapmesh server, run the marked shell blocks with the AWS CLI and the boto3
// script with python3, and compare their output with what the README shows.
//
// Blocks are marked by their fence's info string: "sh walkthrough" blocks run
// in order in one bash process, the "python walkthrough" block runs with
// python3, and a "text walkthrough-output" block lists lines that the output
// of the block before it must contain (fields compared, so tabs and spaces
// are alike; order is not checked).
package readme
