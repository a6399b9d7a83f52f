package appmesh

import (
	"fmt"
	"strings"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// The AWS errors App Mesh operations return. Their HTTP status comes from
// the model (errorStatus, generated): the API layer looks it up by code, so
// none is written here.

const codeBadRequest = "BadRequestException"

func badRequest(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: codeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func conflict(msg string) *awsapi.Error {
	return &awsapi.Error{Code: "ConflictException", Message: msg}
}

func resourceInUse(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "ResourceInUseException", Message: fmt.Sprintf(format, args...)}
}

func limitExceeded(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "LimitExceededException", Message: fmt.Sprintf(format, args...)}
}

func tooManyTags(limit int) *awsapi.Error {
	return &awsapi.Error{Code: "TooManyTagsException", Message: fmt.Sprintf("A resource can have at most %d tags", limit)}
}

func forbidden(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "ForbiddenException", Message: fmt.Sprintf(format, args...)}
}

func notFoundMessage(msg string) *awsapi.Error {
	return &awsapi.Error{Code: "NotFoundException", Message: msg}
}

// displayKind is a kind as AWS names it in messages: "VirtualNode".
func displayKind(kind string) string { return strings.ToUpper(kind[:1]) + kind[1:] }

// notFound says that k (or, for a mesh, the mesh) does not exist.
func notFound(p partKey, k rkey) *awsapi.Error {
	switch {
	case k.kind == kindMesh:
		return notFoundMessage(fmt.Sprintf("Mesh with name %s is not present for account %s", k.mesh, p.account))
	case k.parent != "":
		return notFoundMessage(fmt.Sprintf("%s with name %s is not present under %s %s in mesh %s for account %s",
			displayKind(k.kind), k.name, displayKind(parentKind[k.kind]), k.parent, k.mesh, p.account))
	}
	return notFoundMessage(fmt.Sprintf("%s with name %s is not present under mesh %s for account %s", displayKind(k.kind), k.name, k.mesh, p.account))
}

// alreadyExists says that the name of k is taken.
func alreadyExists(p partKey, k rkey) *awsapi.Error {
	if k.kind == kindMesh {
		return conflict(fmt.Sprintf("Mesh with name %s already exists for account %s", k.mesh, p.account))
	}
	return conflict(fmt.Sprintf("%s with name %s already exists in mesh %s", displayKind(k.kind), k.name, k.mesh))
}
