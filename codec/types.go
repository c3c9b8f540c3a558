package codec

import "fmt"

// Type is the one-byte message type id of a frame, as Spark numbers them.
type Type int8

// The transport message types. The ids are Spark's and must never change.
const (
	TypeChunkFetchRequest      Type = 0
	TypeChunkFetchSuccess      Type = 1
	TypeChunkFetchFailure      Type = 2
	TypeRpcRequest             Type = 3
	TypeRpcResponse            Type = 4
	TypeRpcFailure             Type = 5
	TypeStreamRequest          Type = 6
	TypeStreamResponse         Type = 7
	TypeStreamFailure          Type = 8
	TypeOneWayMessage          Type = 9
	TypeUploadStream           Type = 10
	TypeMergedBlockMetaRequest Type = 11
	TypeMergedBlockMetaSuccess Type = 12
	// TypeUser is reserved by Spark for SASL payload encoding; it is never a
	// valid frame type.
	TypeUser Type = -1
)

// bodyKind says where a type's body travels.
type bodyKind uint8

const (
	bodyNone       bodyKind = iota // no body
	bodyInFrame                    // body bytes end the frame
	bodyAfterFrame                 // ByteCount raw bytes follow the frame
)

// typeInfo is one row of the wire-format table.
type typeInfo struct {
	name     string
	request  bool
	body     bodyKind
	fixedLen int // header bytes of the fixed-size fields
}

// types is the wire format as data: one row per type id 0..12.
// Variable-length fields (strings, meta) are added by headerLen.
var types = [...]typeInfo{
	TypeChunkFetchRequest:      {"ChunkFetchRequest", true, bodyNone, 8 + 4},
	TypeChunkFetchSuccess:      {"ChunkFetchSuccess", false, bodyInFrame, 8 + 4},
	TypeChunkFetchFailure:      {"ChunkFetchFailure", false, bodyNone, 8 + 4 + 4},
	TypeRpcRequest:             {"RpcRequest", true, bodyInFrame, 8 + 4},
	TypeRpcResponse:            {"RpcResponse", false, bodyInFrame, 8 + 4},
	TypeRpcFailure:             {"RpcFailure", false, bodyNone, 8 + 4},
	TypeStreamRequest:          {"StreamRequest", true, bodyNone, 4},
	TypeStreamResponse:         {"StreamResponse", false, bodyAfterFrame, 4 + 8},
	TypeStreamFailure:          {"StreamFailure", false, bodyNone, 4 + 4},
	TypeOneWayMessage:          {"OneWayMessage", true, bodyInFrame, 4},
	TypeUploadStream:           {"UploadStream", true, bodyAfterFrame, 8 + 4 + 8},
	TypeMergedBlockMetaRequest: {"MergedBlockMetaRequest", true, bodyNone, 8 + 4 + 4 + 4 + 4},
	TypeMergedBlockMetaSuccess: {"MergedBlockMetaSuccess", false, bodyInFrame, 8 + 4},
}

// Valid reports whether t is a frame type this package can encode and decode.
func (t Type) Valid() bool { return t >= 0 && int(t) < len(types) }

// String returns Spark's name for the type.
func (t Type) String() string {
	if t.Valid() {
		return types[t].name
	}
	if t == TypeUser {
		return "User"
	}
	return fmt.Sprintf("Type(%d)", int8(t))
}

// IsRequest reports whether messages of this type travel from the side that
// asks to the side that answers.
func (t Type) IsRequest() bool { return t.Valid() && types[t].request }

// HasBody reports whether the type carries a body (in the frame or after it).
func (t Type) HasBody() bool { return t.Valid() && types[t].body != bodyNone }

// BodyOffset returns where an in-frame body starts, counted from the first
// byte of the frame's length field, or 0 for types whose body is not in the
// frame. Every in-frame type's header is of fixed size.
func (t Type) BodyOffset() int {
	if !t.BodyInFrame() {
		return 0
	}
	return frameHeaderLen + types[t].fixedLen
}

// BodyInFrame reports whether the body is part of the frame (true) or follows
// it as raw bytes (false for StreamResponse and UploadStream).
func (t Type) BodyInFrame() bool { return t.Valid() && types[t].body == bodyInFrame }
