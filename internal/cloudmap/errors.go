package cloudmap

import (
	"fmt"

	"github.com/mapmesh/mapmesh/internal/awsapi"
)

// The AWS errors Cloud Map operations return. Every modeled Cloud Map error
// is HTTP 400 (the model gives none a status).

func invalidInput(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "InvalidInput", Message: fmt.Sprintf(format, args...)}
}

func namespaceNotFound(id string) *awsapi.Error {
	return &awsapi.Error{Code: "NamespaceNotFound", Message: "Namespace not found: " + id}
}

func serviceNotFound(id string) *awsapi.Error {
	return &awsapi.Error{Code: "ServiceNotFound", Message: "Service not found: " + id}
}

func instanceNotFound(svcID, id string) *awsapi.Error {
	return &awsapi.Error{Code: "InstanceNotFound", Message: fmt.Sprintf("Instance not found: %s in service %s", id, svcID)}
}

func operationNotFound(id string) *awsapi.Error {
	return &awsapi.Error{Code: "OperationNotFound", Message: "Operation not found: " + id}
}

func resourceNotFound(arn string) *awsapi.Error {
	return &awsapi.Error{Code: "ResourceNotFoundException", Message: "Resource not found: " + arn}
}

func customHealthNotFound(svcID string) *awsapi.Error {
	return &awsapi.Error{Code: "CustomHealthNotFound", Message: "Service " + svcID + " does not have a custom health check configuration (HealthCheckCustomConfig)"}
}

func resourceInUse(msg string) *awsapi.Error {
	return &awsapi.Error{Code: "ResourceInUse", Message: msg}
}

func resourceLimitExceeded(format string, args ...any) *awsapi.Error {
	return &awsapi.Error{Code: "ResourceLimitExceeded", Message: fmt.Sprintf(format, args...)}
}

func namespaceAlreadyExists(creatorRequestID, nsID string) *awsapi.Error {
	f := map[string]any{"NamespaceId": nsID}
	if creatorRequestID != "" {
		f["CreatorRequestId"] = creatorRequestID
	}
	return &awsapi.Error{Code: "NamespaceAlreadyExists", Message: "Namespace already exists.", Fields: f}
}

func serviceAlreadyExists(creatorRequestID, svcID, arn string) *awsapi.Error {
	f := map[string]any{"ServiceId": svcID, "ServiceArn": arn}
	if creatorRequestID != "" {
		f["CreatorRequestId"] = creatorRequestID
	}
	return &awsapi.Error{Code: "ServiceAlreadyExists", Message: "Service already exists.", Fields: f}
}

func duplicateRequest(opID, msg string) *awsapi.Error {
	return &awsapi.Error{Code: "DuplicateRequest", Message: msg, Fields: map[string]any{"DuplicateOperationId": opID}}
}

func tooManyTags(arn string, limit int) *awsapi.Error {
	return &awsapi.Error{Code: "TooManyTagsException", Message: fmt.Sprintf("A resource can have at most %d tags", limit),
		Fields: map[string]any{"ResourceName": arn}}
}

func serviceAttributesLimitExceeded(limit int) *awsapi.Error {
	return &awsapi.Error{Code: "ServiceAttributesLimitExceededException",
		Message: fmt.Sprintf("A service can have at most %d attributes", limit)}
}
