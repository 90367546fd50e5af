package files

import (
	"eserver/node/store"
	"eserver/node/transfer"
)

// chunkMap is transfer.ChunkMap over the account's store: a resume after a
// restart re-fetches nothing that arrived.
type chunkMap struct{ st *store.Store }

var _ transfer.ChunkMap = chunkMap{}

func (m chunkMap) Done(id transfer.ID) ([]bool, error) {
	idx, err := m.st.ChunksDone(id[:])
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	done := make([]bool, idx[len(idx)-1]+1)
	for _, i := range idx {
		done[i] = true
	}
	return done, nil
}

func (m chunkMap) MarkDone(id transfer.ID, indexes ...uint64) error {
	return m.st.MarkChunks(id[:], indexes...)
}

func (m chunkMap) Forget(id transfer.ID) error { return m.st.ForgetChunks(id[:]) }
