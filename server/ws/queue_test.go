package ws

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func qmsg(name string, droppable bool) outMsg {
	return outMsg{typ: name, data: []byte(name), droppable: droppable}
}

func drain(q *sendQueue) []string {
	var out []string
	for {
		m, ok := q.pop()
		if !ok {
			return out
		}
		out = append(out, m.typ)
	}
}

func TestSendQueueStrategies(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		push     []outMsg
		want     []string
		dropped  int64
	}{
		{"drop_oldest keeps the newest", BackpressureDropOldest,
			[]outMsg{qmsg("d1", true), qmsg("d2", true), qmsg("d3", true), qmsg("d4", true), qmsg("d5", true)},
			[]string{"d3", "d4", "d5"}, 2},
		{"drop_newest keeps the oldest", BackpressureDropNewest,
			[]outMsg{qmsg("d1", true), qmsg("d2", true), qmsg("d3", true), qmsg("d4", true), qmsg("d5", true)},
			[]string{"d1", "d2", "d3"}, 2},
		{"compress keeps even positions", BackpressureCompress,
			[]outMsg{qmsg("d1", true), qmsg("d2", true), qmsg("d3", true), qmsg("d4", true)},
			[]string{"d1", "d3", "d4"}, 1},
		{"control messages are never dropped", BackpressureDropOldest,
			[]outMsg{qmsg("c1", false), qmsg("d1", true), qmsg("c2", false), qmsg("d2", true), qmsg("c3", false), qmsg("c4", false)},
			[]string{"c1", "c2", "c3", "c4"}, 2},
		{"data loses to a full queue of control messages", BackpressureDropOldest,
			[]outMsg{qmsg("c1", false), qmsg("c2", false), qmsg("c3", false), qmsg("d1", true)},
			[]string{"c1", "c2", "c3"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var counted int
			q := newSendQueue(3, 1<<20, tt.strategy, func(n int) { counted += n })
			for _, m := range tt.push {
				require.True(t, q.push(m))
			}
			require.Equal(t, tt.want, drain(q))
			require.Equal(t, tt.dropped, q.droppedTotal())
			require.EqualValues(t, tt.dropped, counted)
		})
	}
}

func TestSendQueueByteBound(t *testing.T) {
	q := newSendQueue(1000, 100, BackpressureDropOldest, nil)
	for i := range 10 {
		require.True(t, q.push(outMsg{typ: strconv.Itoa(i), data: make([]byte, 30), droppable: true}))
	}
	_, hiBytes := q.high()
	require.LessOrEqual(t, hiBytes, int64(100))
	require.Equal(t, []string{"7", "8", "9"}, drain(q))
}

func TestSendQueueControlOverflowAsksToClose(t *testing.T) {
	q := newSendQueue(2, 1<<20, BackpressureDropOldest, nil)
	ok := true
	for i := 0; i < 2+controlReserve+1 && ok; i++ {
		ok = q.push(qmsg("c", false))
	}
	require.False(t, ok, "a client that never reads cannot grow the queue without bound")
	q.shut()
	require.True(t, q.push(qmsg("late", false)), "after shut, pushes are discarded quietly")
	_, got := q.pop()
	require.False(t, got)
}
