package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// sdsCluster is the static cluster App Mesh's Envoy bootstrap defines for
// the SDS agent on a unix socket (SPIRE, for instance).
const sdsCluster = "static_cluster_sds_unix_socket"

// tlsConfig is one TLS setting of App Mesh (listener or client policy), in
// a shape common to virtual nodes and virtual gateways.
type tlsConfig struct {
	mode                       string // STRICT, PERMISSIVE or DISABLED (listeners)
	certFile, keyFile, certSDS string
	certACM                    string
	trustFile, trustSDS        string
	trustACM                   []string
	sans                       []string
	hasCert, hasValidation     bool
}

func listenerTLS(t *appmesh.ListenerTLS) *tlsConfig {
	if t == nil {
		return nil
	}
	c := &tlsConfig{mode: deref(t.Mode)}
	if cert := t.Certificate; cert != nil {
		c.hasCert = true
		switch {
		case cert.File != nil:
			c.certFile, c.keyFile = deref(cert.File.CertificateChain), deref(cert.File.PrivateKey)
		case cert.SDS != nil:
			c.certSDS = deref(cert.SDS.SecretName)
		case cert.ACM != nil:
			c.certACM = deref(cert.ACM.CertificateARN)
		}
	}
	if v := t.Validation; v != nil && v.Trust != nil {
		c.hasValidation = true
		switch {
		case v.Trust.File != nil:
			c.trustFile = deref(v.Trust.File.CertificateChain)
		case v.Trust.SDS != nil:
			c.trustSDS = deref(v.Trust.SDS.SecretName)
		}
		c.sans = sanList(v.SubjectAlternativeNames)
	}
	return c
}

func gatewayListenerTLS(t *appmesh.VirtualGatewayListenerTLS) *tlsConfig {
	if t == nil {
		return nil
	}
	c := &tlsConfig{mode: deref(t.Mode)}
	if cert := t.Certificate; cert != nil {
		c.hasCert = true
		switch {
		case cert.File != nil:
			c.certFile, c.keyFile = deref(cert.File.CertificateChain), deref(cert.File.PrivateKey)
		case cert.SDS != nil:
			c.certSDS = deref(cert.SDS.SecretName)
		case cert.ACM != nil:
			c.certACM = deref(cert.ACM.CertificateARN)
		}
	}
	if v := t.Validation; v != nil && v.Trust != nil {
		c.hasValidation = true
		switch {
		case v.Trust.File != nil:
			c.trustFile = deref(v.Trust.File.CertificateChain)
		case v.Trust.SDS != nil:
			c.trustSDS = deref(v.Trust.SDS.SecretName)
		}
		c.sans = sanList(v.SubjectAlternativeNames)
	}
	return c
}

func clientTLS(t *appmesh.ClientPolicyTLS) *tlsConfig {
	if t == nil {
		return nil
	}
	c := &tlsConfig{mode: "STRICT"}
	if cert := t.Certificate; cert != nil {
		c.hasCert = true
		switch {
		case cert.File != nil:
			c.certFile, c.keyFile = deref(cert.File.CertificateChain), deref(cert.File.PrivateKey)
		case cert.SDS != nil:
			c.certSDS = deref(cert.SDS.SecretName)
		}
	}
	if v := t.Validation; v != nil && v.Trust != nil {
		c.hasValidation = true
		switch {
		case v.Trust.File != nil:
			c.trustFile = deref(v.Trust.File.CertificateChain)
		case v.Trust.SDS != nil:
			c.trustSDS = deref(v.Trust.SDS.SecretName)
		case v.Trust.ACM != nil:
			c.trustACM = v.Trust.ACM.CertificateAuthorityARNs
		}
		c.sans = sanList(v.SubjectAlternativeNames)
	}
	return c
}

func gatewayClientTLS(t *appmesh.VirtualGatewayClientPolicyTLS) *appmesh.ClientPolicyTLS {
	if t == nil {
		return nil
	}
	out := &appmesh.ClientPolicyTLS{Enforce: t.Enforce, Ports: t.Ports}
	if c := t.Certificate; c != nil {
		out.Certificate = &appmesh.ClientTLSCertificate{}
		if c.File != nil {
			out.Certificate.File = &appmesh.ListenerTLSFileCertificate{CertificateChain: c.File.CertificateChain, PrivateKey: c.File.PrivateKey}
		}
		if c.SDS != nil {
			out.Certificate.SDS = &appmesh.ListenerTLSSDSCertificate{SecretName: c.SDS.SecretName}
		}
	}
	if v := t.Validation; v != nil {
		out.Validation = &appmesh.TLSValidationContext{SubjectAlternativeNames: v.SubjectAlternativeNames}
		if tr := v.Trust; tr != nil {
			out.Validation.Trust = &appmesh.TLSValidationContextTrust{}
			if tr.File != nil {
				out.Validation.Trust.File = &appmesh.TLSValidationContextFileTrust{CertificateChain: tr.File.CertificateChain}
			}
			if tr.SDS != nil {
				out.Validation.Trust.SDS = &appmesh.TLSValidationContextSDSTrust{SecretName: tr.SDS.SecretName}
			}
			if tr.ACM != nil {
				out.Validation.Trust.ACM = &appmesh.TLSValidationContextACMTrust{CertificateAuthorityARNs: tr.ACM.CertificateAuthorityARNs}
			}
		}
	}
	return out
}

func sanList(s *appmesh.SubjectAlternativeNames) []string {
	if s == nil || s.Match == nil {
		return nil
	}
	return s.Match.Exact
}

func sdsSource() *core.ConfigSource {
	return &core.ConfigSource{ResourceApiVersion: core.ApiVersion_V3, ConfigSourceSpecifier: &core.ConfigSource_ApiConfigSource{
		ApiConfigSource: &core.ApiConfigSource{ApiType: core.ApiConfigSource_GRPC, TransportApiVersion: core.ApiVersion_V3,
			GrpcServices: []*core.GrpcService{{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: sdsCluster}}}}}}}
}

func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: sdsSource()}
}

func fileSource(path string) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_Filename{Filename: path}}
}

// commonTLS renders certificates and validation. ACM certificates and
// trust cannot be had outside AWS: they become SDS secrets named by the
// ARN, which an SDS agent may serve; without one, Envoy never warms the
// listener or cluster (it fails closed).
func (b *builder) commonTLS(c *tlsConfig, what string) *tlsv3.CommonTlsContext {
	ctx := &tlsv3.CommonTlsContext{}
	switch {
	case c.certFile != "":
		ctx.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileSource(c.certFile), PrivateKey: fileSource(c.keyFile)}}
	case c.certSDS != "":
		ctx.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsSecret(c.certSDS)}
	case c.certACM != "":
		b.notef("%s: an ACM certificate is served as the SDS secret named by its ARN", what)
		ctx.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsSecret(c.certACM)}
	}
	if !c.hasValidation {
		return ctx
	}
	var sans []*tlsv3.SubjectAltNameMatcher
	for _, s := range c.sans {
		for _, t := range []tlsv3.SubjectAltNameMatcher_SanType{tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI} {
			sans = append(sans, &tlsv3.SubjectAltNameMatcher{SanType: t, Matcher: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: s}}})
		}
	}
	trustSDS := c.trustSDS
	if len(c.trustACM) > 0 {
		b.notef("%s: ACM private CA trust is taken from the SDS secret named by the first CA's ARN", what)
		trustSDS = c.trustACM[0]
	}
	switch {
	case c.trustFile != "":
		ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: fileSource(c.trustFile), MatchTypedSubjectAltNames: sans}}
	case trustSDS != "" && len(sans) == 0:
		ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsSecret(trustSDS)}
	case trustSDS != "":
		ctx.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: sdsSecret(trustSDS)}}
	}
	return ctx
}

func (b *builder) transportSocket(m proto.Message) *core.TransportSocket {
	return &core.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: b.typed(m)}}
}

// downstreamChains returns the filter chains of one listener port: one
// without TLS, one with (STRICT), or both told apart by the TLS inspector
// (PERMISSIVE).
func (b *builder) downstreamChains(name string, match *listener.FilterChainMatch, f *listener.Filter, t *tlsConfig, lfs *[]*listener.ListenerFilter) []*listener.FilterChain {
	plain := &listener.FilterChain{Name: name, FilterChainMatch: match, Filters: []*listener.Filter{f}}
	if t == nil || t.mode == "DISABLED" || t.mode == "" {
		return []*listener.FilterChain{plain}
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: b.commonTLS(t, "listener "+name)}
	if t.hasValidation {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
	}
	secure := &listener.FilterChain{Name: name + "_tls", FilterChainMatch: match, Filters: []*listener.Filter{f}, TransportSocket: b.transportSocket(ctx)}
	if t.mode == "STRICT" {
		return []*listener.FilterChain{secure}
	}
	if match == nil {
		match = &listener.FilterChainMatch{}
	}
	secure.FilterChainMatch = proto.Clone(match).(*listener.FilterChainMatch)
	secure.FilterChainMatch.TransportProtocol = "tls"
	plain.FilterChainMatch = proto.Clone(match).(*listener.FilterChainMatch)
	plain.FilterChainMatch.TransportProtocol = "raw_buffer"
	hasInspector := false
	for _, lf := range *lfs {
		hasInspector = hasInspector || lf.Name == wellknown.TlsInspector
	}
	if !hasInspector {
		*lfs = append(*lfs, b.listenerFilter(wellknown.TlsInspector, &tlsinspector.TlsInspector{}))
	}
	return []*listener.FilterChain{secure, plain}
}

// upstreamTLS renders a client policy for a cluster.
func (b *builder) upstreamTLS(t *appmesh.ClientPolicyTLS, sni, what string) *core.TransportSocket {
	c := clientTLS(t)
	return b.transportSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: b.commonTLS(c, what), Sni: sni})
}
