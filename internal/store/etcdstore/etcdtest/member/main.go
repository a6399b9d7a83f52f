// Command member runs one member of the etcd cluster that
// etcdtest.StartCluster starts: an etcd server built from the module's
// pinned go.etcd.io/etcd/server/v3, so the cluster tests need no etcd
// installed. It prints "ready" once it serves, and stops on SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	name := flag.String("name", "", "member name")
	dir := flag.String("data-dir", "", "data directory")
	client := flag.String("client-url", "", "client URL to listen on and advertise")
	peer := flag.String("peer-url", "", "peer URL to listen on and advertise")
	cluster := flag.String("initial-cluster", "", "name=peer-url,... of every member")
	flag.Parse()
	curl, err := url.Parse(*client)
	if err != nil {
		log.Fatalf("member: -client-url: %v", err)
	}
	purl, err := url.Parse(*peer)
	if err != nil {
		log.Fatalf("member: -peer-url: %v", err)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = *name, *dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*curl}, []url.URL{*curl}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*purl}, []url.URL{*purl}
	cfg.InitialCluster = *cluster
	cfg.InitialClusterToken = "mapmesh-etcdtest"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{"stderr"}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("member %s: %v", *name, err)
	}
	defer e.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("ready")
	case err := <-e.Err():
		log.Fatalf("member %s: %v", *name, err)
	case <-sig:
		return
	}
	select {
	case err := <-e.Err():
		log.Fatalf("member %s: %v", *name, err)
	case <-sig:
	}
}
