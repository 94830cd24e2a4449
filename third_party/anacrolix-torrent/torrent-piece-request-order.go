package torrent

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/internal/amortize"
	requestStrategy "github.com/anacrolix/torrent/internal/request-strategy"
)

// It's probably possible to track whether the piece moves around in the btree to be more efficient
// about triggering request updates.
func (t *Torrent) updatePieceRequestOrderPiece(pieceIndex int) (changed bool) {
	if t.storage == nil {
		return false
	}
	pro, ok := t.cl.pieceRequestOrder[t.clientPieceRequestOrderKey()]
	if !ok {
		return false
	}
	key := t.pieceRequestOrderKey(pieceIndex)
	if t.hasStorageCap() {
		return pro.pieces.Update(key, t.requestStrategyPieceOrderState(pieceIndex))
	}
	// TODO: This might eject a piece that could count toward being unverified?
	pending := !t.ignorePieceForRequests(pieceIndex)
	if pending {
		newState := t.requestStrategyPieceOrderState(pieceIndex)
		old := pro.pieces.Add(key, newState)
		return old.Ok && old.Value != newState
	}
	return pro.pieces.Delete(key)
}

func (t *Torrent) clientPieceRequestOrderKey() clientPieceRequestOrderKeySumType {
	if t.storage.Capacity == nil {
		return clientPieceRequestOrderRegularTorrentKey{t}
	}
	return clientPieceRequestOrderSharedStorageTorrentKey{t.storage.Capacity}
}

func (t *Torrent) deletePieceRequestOrder() {
	if t.storage == nil {
		return
	}
	cpro := t.cl.pieceRequestOrder
	key := t.clientPieceRequestOrderKey()
	pro, ok := cpro[key]
	if !ok {
		// Setting the info failed after the storage was opened.
		return
	}
	for i := range t.numPieces() {
		pro.pieces.Delete(t.pieceRequestOrderKey(i))
	}
	if pro.pieces.Len() == 0 {
		delete(cpro, key)
	}
}

func (t *Torrent) initPieceRequestOrder() {
	if t.storage == nil {
		return
	}
	g.MakeMapIfNil(&t.cl.pieceRequestOrder)
	key := t.clientPieceRequestOrderKey()
	cpro := t.cl.pieceRequestOrder
	// Without a storage cap, only pending pieces are in the order, so don't reserve for all of
	// them.
	initialCap := 0
	if t.hasStorageCap() {
		initialCap = t.numPieces()
	}
	if _, ok := cpro[key]; !ok {
		value := clientPieceRequestOrderValue{
			pieces: requestStrategy.NewPieceOrder(requestStrategy.NewAjwernerBtree(), initialCap),
		}
		cpro[key] = value
	}
}

func (t *Torrent) addRequestOrderPiece(i int) {
	if t.storage == nil {
		return
	}
	pro := t.getPieceRequestOrder()
	key := t.pieceRequestOrderKey(i)
	if t.hasStorageCap() || !t.ignorePieceForRequests(i) {
		pro.Add(key, t.requestStrategyPieceOrderState(i))
	}
}

func (t *Torrent) getPieceRequestOrder() *requestStrategy.PieceRequestOrder {
	if t.storage == nil {
		return nil
	}
	return t.cl.pieceRequestOrder[t.clientPieceRequestOrderKey()].pieces
}

func (t *Torrent) checkPendingPiecesMatchesRequestOrder() {
	if !amortize.Try() {
		return
	}
	t.assertPendingPiecesMatchRequestOrder()
}

// Panics if the pending pieces aren't the pieces wanted from the piece request order.
func (t *Torrent) assertPendingPiecesMatchRequestOrder() {
	if t.dataDownloadDisallowed.IsSet() {
		// Pending pieces are tracked by priority, but dataDownloadDisallowed makes
		// ignorePieceForRequests true for all of them, so they're dropped from the request
		// order while staying pending. The two legitimately diverge here.
		return
	}
	pro := t.getPieceRequestOrder()
	if pro == nil {
		// Not set up yet: v2 piece layers are applied while the info is still being set.
		return
	}
	short := *t.canonicalShortInfohash()
	var proBitmap roaring.Bitmap
	for item := range pro.Iter {
		if item.Key.InfoHash.Value() != short {
			continue
		}
		if item.State.Priority == PiecePriorityNone {
			continue
		}
		if t.ignorePieceForRequests(item.Key.Index) {
			continue
		}
		proBitmap.Add(uint32(item.Key.Index))
	}
	// Pieces without a hash stay pending so their v2 hashes are fetched, but can't be requested.
	pending := t._pendingPieces.Clone()
	t._pendingPieces.Iterate(func(i pieceIndex) bool {
		if !t.piece(i).haveHash() {
			pending.Remove(i)
		}
		return true
	})
	if !proBitmap.Equals(&pending.Bitmap) {
		intersection := roaring.And(&proBitmap, &pending.Bitmap)
		exclPro := roaring.AndNot(&proBitmap, intersection)
		exclPending := roaring.AndNot(&pending.Bitmap, intersection)
		panic(fmt.Sprintf("piece request order has %v and pending pieces has %v", exclPro.String(), exclPending.String()))
	}
}
