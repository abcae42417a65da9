package loadtest

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "mfn/proto"
)

// GRPCNernst opens conns plaintext client connections to addr, makes one ComputeNernst
// call on each (so that connecting is outside the measured run), and returns the load for
// Measure: b.N ComputeNernst calls (z 1, 5 mM out, 140 mM in, 310 K) from inflight
// goroutines sharing the connections.
func GRPCNernst(b *testing.B, addr string, conns, inflight int) func() []time.Duration {
	b.Helper()
	z, out, in, temp := int32(1), 5e-3, 140e-3, 310.0
	req := &pb.NernstRequest{ZValence: &z, ConcentrationOutMolar: &out, ConcentrationInMolar: &in, TemperatureK: &temp}
	clients := make([]pb.MyceliumServiceClient, conns)
	for i := range clients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		clients[i] = pb.NewMyceliumServiceClient(conn)
		if _, err := clients[i].ComputeNernst(context.Background(), req); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	return Calls(b, inflight, func(w int) error {
		_, err := clients[w%conns].ComputeNernst(context.Background(), req)
		return err
	})
}
