package xds

import "github.com/mapmesh/mapmesh/internal/cloudmap"

// fixtures are the meshes of the golden tests: HTTP and gRPC routes, TCP
// routes, virtual-node-provided services, a 2018-style router, virtual
// gateways, and both egress filters.
var fixtures = map[string]fixture{
	// HTTP routes through a router, every match kind, retries, timeouts,
	// Cloud Map endpoints with attributes and health, DROP_ALL egress.
	"http_routes": {
		mesh: `{"egressFilter": {"type": "DROP_ALL"}}`,
		nodes: map[string]string{
			"front": `{
				"listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
					"healthCheck": {"protocol": "http", "path": "/ping", "healthyThreshold": 2, "unhealthyThreshold": 3, "intervalMillis": 5000, "timeoutMillis": 2000},
					"timeout": {"http": {"perRequest": {"value": 30, "unit": "s"}, "idle": {"value": 600, "unit": "s"}}},
					"connectionPool": {"http": {"maxConnections": 100, "maxPendingRequests": 50}}}],
				"backends": [{"virtualService": {"virtualServiceName": "web.shop.local"}}],
				"logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
				"serviceDiscovery": {"dns": {"hostname": "front.shop.local"}}}`,
			"web-v1": `{
				"listeners": [{"portMapping": {"port": 9080, "protocol": "http"},
					"outlierDetection": {"maxServerErrors": 5, "interval": {"value": 10, "unit": "s"}, "baseEjectionDuration": {"value": 30, "unit": "s"}, "maxEjectionPercent": 50}}],
				"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "web", "attributes": [{"key": "version", "value": "v1"}]}}}`,
			"web-v2": `{
				"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
				"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "web", "attributes": [{"key": "version", "value": "v2"}], "ipPreference": "IPv6_PREFERRED"}}}`,
		},
		routers: map[string]string{"web": `{"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}`},
		routes: map[string]string{
			"web/split": `{"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "web-v1", "weight": 80}, {"virtualNode": "web-v2", "weight": 20}]},
				"retryPolicy": {"maxRetries": 3, "perRetryTimeout": {"value": 500, "unit": "ms"}, "httpRetryEvents": ["server-error", "gateway-error"], "tcpRetryEvents": ["connection-error"]},
				"timeout": {"perRequest": {"value": 5, "unit": "s"}}}}`,
			"web/canary": `{"priority": 1, "httpRoute": {"match": {"prefix": "/api", "method": "POST",
				"headers": [{"name": "X-Canary", "match": {"exact": "yes"}}, {"name": "x-user", "invert": true, "match": {"regex": "bot-.*"}}, {"name": "x-tier", "match": {"range": {"start": 1, "end": 5}}}],
				"queryParameters": [{"name": "debug", "match": {"exact": "1"}}, {"name": "trace"}]},
				"action": {"weightedTargets": [{"virtualNode": "web-v2", "weight": 100}]}}}`,
			"web/health": `{"httpRoute": {"match": {"path": {"exact": "/healthz"}}, "action": {"weightedTargets": [{"virtualNode": "web-v1", "weight": 1}]},
				"timeout": {"perRequest": {"value": 0, "unit": "s"}, "idle": {"value": 1, "unit": "s"}}}}`,
			"web/static": `{"httpRoute": {"match": {"path": {"regex": "/static/.*\\.css"}}, "action": {"weightedTargets": [{"virtualNode": "web-v1", "weight": 0}]}}}`,
		},
		services: map[string]string{"web.shop.local": `{"provider": {"virtualRouter": {"virtualRouterName": "web"}}}`},
		registry: staticRegistry{instances: map[string][]Instance{
			"shop.local/web": {
				{ID: "web-1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "9080", "version": "v1", "AVAILABILITY_ZONE": "eu-west-1a"}), Health: "HEALTHY"},
				{ID: "web-2", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.2", "version": "v1", "AVAILABILITY_ZONE": "eu-west-1b"}), Health: "UNKNOWN"},
				{ID: "web-3", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "9080", "version": "v1"}), Health: "UNHEALTHY"},
				{ID: "web-4", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.0.0.4", "AWS_INSTANCE_IPV6": "fd00::4", "AWS_INSTANCE_PORT": "9081", "version": "v2"}), Health: "HEALTHY"},
			},
		}},
		render: []Node{vnode("front"), grpcNode("front"), vnode("web-v1")},
	},

	// gRPC routes (service, method, metadata, gRPC retry events), a
	// virtual-node-provided service, and a DNS node resolved through a
	// mapmesh DNS namespace for gRPC clients.
	"grpc_routes": {
		mesh: `{}`,
		nodes: map[string]string{
			"client": `{"backends": [{"virtualService": {"virtualServiceName": "greeter.shop.local"}}, {"virtualService": {"virtualServiceName": "echo.shop.local"}}],
				"serviceDiscovery": {"dns": {"hostname": "client.shop.local"}}}`,
			"greeter-a": `{"listeners": [{"portMapping": {"port": 50051, "protocol": "grpc"},
					"connectionPool": {"grpc": {"maxRequests": 200}},
					"healthCheck": {"protocol": "grpc", "healthyThreshold": 2, "unhealthyThreshold": 2, "intervalMillis": 10000, "timeoutMillis": 2000, "port": 50052},
					"timeout": {"grpc": {"perRequest": {"value": 2, "unit": "s"}}}}],
				"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "greeter", "attributes": [{"key": "stack", "value": "a"}]}}}`,
			"greeter-b": `{"listeners": [{"portMapping": {"port": 50051, "protocol": "grpc"}}],
				"serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "greeter", "attributes": [{"key": "stack", "value": "b"}]}}}`,
			"echo": `{"listeners": [{"portMapping": {"port": 7000, "protocol": "http2"}}],
				"serviceDiscovery": {"dns": {"hostname": "echo.dns.local", "responseType": "ENDPOINTS"}}}`,
		},
		routers: map[string]string{"greeter": `{"listeners": [{"portMapping": {"port": 50051, "protocol": "grpc"}}]}`},
		routes: map[string]string{
			"greeter/hello": `{"priority": 10, "grpcRoute": {"match": {"serviceName": "helloworld.Greeter", "methodName": "SayHello",
				"metadata": [{"name": "x-stack", "match": {"prefix": "b"}}]},
				"action": {"weightedTargets": [{"virtualNode": "greeter-b", "weight": 1}]},
				"retryPolicy": {"maxRetries": 2, "perRetryTimeout": {"value": 1, "unit": "s"}, "grpcRetryEvents": ["unavailable", "resource-exhausted"], "httpRetryEvents": ["server-error"]},
				"timeout": {"perRequest": {"value": 3, "unit": "s"}}}}`,
			"greeter/all": `{"priority": 20, "grpcRoute": {"match": {"serviceName": "helloworld.Greeter"},
				"action": {"weightedTargets": [{"virtualNode": "greeter-a", "weight": 50}, {"virtualNode": "greeter-b", "weight": 50}]}}}`,
		},
		services: map[string]string{
			"greeter.shop.local": `{"provider": {"virtualRouter": {"virtualRouterName": "greeter"}}}`,
			"echo.shop.local":    `{"provider": {"virtualNode": {"virtualNodeName": "echo"}}}`,
		},
		registry: staticRegistry{
			instances: map[string][]Instance{
				"shop.local/greeter": {
					{ID: "a1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.1.0.1", "AWS_INSTANCE_PORT": "50051", "stack": "a"}), Health: "HEALTHY"},
					{ID: "b1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.1.0.2", "AWS_INSTANCE_PORT": "50051", "stack": "b", "REGION": "eu-west-2"}), Health: "HEALTHY"},
				},
				"dns.local/echo": {{ID: "e1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.2.0.1"})}},
			},
			dns: []string{"dns.local"},
		},
		render: []Node{vnode("client"), grpcNode("client"), vnode("greeter-a")},
	},

	// TCP routes, a TCP listener, ALLOW_ALL egress, listener TLS
	// (STRICT and PERMISSIVE) and a client TLS policy.
	"tcp_tls_allow_all": {
		mesh: `{"egressFilter": {"type": "ALLOW_ALL"}, "serviceDiscovery": {"ipPreference": "IPv4_ONLY"}}`,
		nodes: map[string]string{
			"app": `{"listeners": [
					{"portMapping": {"port": 8443, "protocol": "http"},
					 "tls": {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/certs/app.pem", "privateKey": "/certs/app.key"}},
						"validation": {"trust": {"file": {"certificateChain": "/certs/ca.pem"}}, "subjectAlternativeNames": {"match": {"exact": ["front.shop.local"]}}}}},
					{"portMapping": {"port": 9000, "protocol": "tcp"}, "timeout": {"tcp": {"idle": {"value": 300, "unit": "s"}}},
					 "connectionPool": {"tcp": {"maxConnections": 10}},
					 "tls": {"mode": "PERMISSIVE", "certificate": {"sds": {"secretName": "app-cert"}}}}],
				"backends": [{"virtualService": {"virtualServiceName": "db.shop.local",
					"clientPolicy": {"tls": {"validation": {"trust": {"sds": {"secretName": "ca"}}, "subjectAlternativeNames": {"match": {"exact": ["db.shop.local"]}}}}}}}],
				"serviceDiscovery": {"dns": {"hostname": "app.shop.local", "ipPreference": "IPv6_ONLY"}}}`,
			"db-primary": `{"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}], "serviceDiscovery": {"dns": {"hostname": "db-primary.shop.local"}}}`,
			"db-replica": `{"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}], "serviceDiscovery": {"dns": {"hostname": "db-replica.shop.local", "responseType": "ENDPOINTS"}}}`,
		},
		routers: map[string]string{"db": `{"listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}]}`},
		routes: map[string]string{
			"db/split": `{"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "db-primary", "weight": 90}, {"virtualNode": "db-replica", "weight": 10}]},
				"timeout": {"idle": {"value": 60, "unit": "s"}}}}`,
		},
		services: map[string]string{"db.shop.local": `{"provider": {"virtualRouter": {"virtualRouterName": "db"}}}`},
		render:   []Node{vnode("app"), grpcNode("app")},
	},

	// A router made through the 2018-10-01 API: no listeners, so its port
	// is inferred from the virtual nodes its routes target.
	"router_2018": {
		mesh: `{}`,
		nodes: map[string]string{
			"api":    `{"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}], "backends": [{"virtualService": {"virtualServiceName": "db.legacy.local"}}], "serviceDiscovery": {"dns": {"hostname": "api.legacy.local"}}}`,
			"db":     `{"listeners": [{"portMapping": {"port": 3000, "protocol": "http"}}], "serviceDiscovery": {"dns": {"hostname": "db.legacy.local"}}}`,
			"db-new": `{"listeners": [{"portMapping": {"port": 3000, "protocol": "http"}}], "serviceDiscovery": {"dns": {"hostname": "db-new.legacy.local"}}}`,
		},
		routers: map[string]string{"db": `{}`},
		routes: map[string]string{
			"db/all": `{"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "db", "weight": 3}, {"virtualNode": "db-new", "weight": 1}]}}}`,
		},
		services: map[string]string{"db.legacy.local": `{"provider": {"virtualRouter": {"virtualRouterName": "db"}}}`},
		render:   []Node{vnode("api"), grpcNode("api")},
	},

	// A virtual gateway: gateway routes with AWS's default host and prefix
	// rewrites, an explicit prefix, an exact path rewrite, a hostname match,
	// a gRPC gateway route, and targets provided by a router and by a node.
	"gateway": {
		mesh: `{}`,
		nodes: map[string]string{
			"web": `{"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}], "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "web"}}}`,
			"api": `{"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}], "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shop.local", "serviceName": "api"}}}`,
			"rpc": `{"listeners": [{"portMapping": {"port": 50051, "protocol": "grpc"}}], "serviceDiscovery": {"dns": {"hostname": "rpc.shop.local"}}}`,
		},
		routers: map[string]string{"api": `{"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}`},
		routes: map[string]string{
			"api/v1":  `{"httpRoute": {"match": {"prefix": "/v1"}, "action": {"weightedTargets": [{"virtualNode": "api", "weight": 1}]}}}`,
			"api/all": `{"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "web", "weight": 1}]}}}`,
		},
		services: map[string]string{
			"api.shop.local": `{"provider": {"virtualRouter": {"virtualRouterName": "api"}}}`,
			"web.shop.local": `{"provider": {"virtualNode": {"virtualNodeName": "web"}}}`,
			"rpc.shop.local": `{"provider": {"virtualNode": {"virtualNodeName": "rpc"}}}`,
		},
		gateways: map[string]string{
			"ingress": `{"listeners": [{"portMapping": {"port": 8088, "protocol": "http"},
				"tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": "arn:aws:acm:eu-west-1:111122223333:certificate/abc"}}}}],
				"logging": {"accessLog": {"file": {"path": "/dev/stdout", "format": {"json": [{"key": "path", "value": "%REQ(:PATH)%"}]}}}}}`,
			"grpc-gw": `{"listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"},
				"tls": {"mode": "PERMISSIVE", "certificate": {"file": {"certificateChain": "/certs/gw.pem", "privateKey": "/certs/gw.key"}}}}],
				"backendDefaults": {"clientPolicy": {"tls": {"ports": [50051], "validation": {"trust": {"acm": {"certificateAuthorityArns": ["arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x"]}}}}}}}`,
		},
		gatewayRoutes: map[string]string{
			"ingress/api":  `{"httpRoute": {"match": {"prefix": "/api/"}, "action": {"target": {"virtualService": {"virtualServiceName": "api.shop.local"}}}}}`,
			"ingress/shop": `{"httpRoute": {"match": {"prefix": "/shop"}, "action": {"target": {"virtualService": {"virtualServiceName": "web.shop.local"}}}}}`,
			"ingress/keep": `{"priority": 5, "httpRoute": {"match": {"prefix": "/keep/", "hostname": {"suffix": ".example.com"}}, "action": {"target": {"virtualService": {"virtualServiceName": "api.shop.local"}},
				"rewrite": {"prefix": {"defaultPrefix": "DISABLED"}, "hostname": {"defaultTargetHostname": "DISABLED"}}}}}`,
			"ingress/legacy": `{"httpRoute": {"match": {"prefix": "/old/", "headers": [{"name": "x-legacy", "match": {"exact": "1"}}]}, "action": {"target": {"virtualService": {"virtualServiceName": "api.shop.local"}},
				"rewrite": {"prefix": {"value": "/v1/"}}}}}`,
			"ingress/status": `{"httpRoute": {"match": {"path": {"exact": "/status"}, "method": "GET"}, "action": {"target": {"virtualService": {"virtualServiceName": "web.shop.local"}},
				"rewrite": {"path": {"exact": "/healthz"}}}}}`,
			"grpc-gw/rpc": `{"grpcRoute": {"match": {"serviceName": "rpc.Service", "hostname": {"exact": "rpc.example.com"}}, "action": {"target": {"virtualService": {"virtualServiceName": "rpc.shop.local"}}}}}`,
		},
		registry: staticRegistry{instances: map[string][]Instance{
			"shop.local/web": {{ID: "w1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.3.0.1"})}},
			"shop.local/api": {{ID: "a1", Attributes: cloudmap.EncodeAttributes(map[string]string{"AWS_INSTANCE_IPV4": "10.3.0.2", "AWS_INSTANCE_PORT": "8081"})}},
		}},
		render: []Node{gatewayNode("ingress"), gatewayNode("grpc-gw")},
	},
}
