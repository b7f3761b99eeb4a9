namespace Raid5Actors.Nbd;

/// <summary>
/// Wire constants of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md), as far as this server
/// speaks it: fixed newstyle handshake, INFO/GO, simple and structured replies. Every field on the
/// wire is big-endian.
/// </summary>
internal static class NbdProtocol
{
    // Handshake: "NBDMAGIC" then "IHAVEOPT"; the client repeats IHAVEOPT before every option.
    public const ulong kInitMagic = 0x4e42444d41474943;
    public const ulong kOptionMagic = 0x49484156454f5054;
    public const ulong kOptionReplyMagic = 0x0003e889045565a9;

    public const uint kRequestMagic = 0x25609513;
    public const uint kSimpleReplyMagic = 0x67446698;
    public const uint kStructuredReplyMagic = 0x668e33ef;

    // Handshake flags (server, 16 bits) and client flags (32 bits).
    public const ushort kFlagFixedNewstyle = 1 << 0;
    public const ushort kFlagNoZeroes = 1 << 1;
    public const uint kClientFixedNewstyle = 1 << 0;
    public const uint kClientNoZeroes = 1 << 1;
    public const uint kKnownClientFlags = kClientFixedNewstyle | kClientNoZeroes;

    // Transmission flags (16 bits).
    public const ushort kTransmitHasFlags = 1 << 0;
    public const ushort kTransmitReadOnly = 1 << 1;
    public const ushort kTransmitSendFlush = 1 << 2;
    public const ushort kTransmitSendFua = 1 << 3;
    public const ushort kTransmitRotational = 1 << 4;
    public const ushort kTransmitSendTrim = 1 << 5;
    public const ushort kTransmitSendWriteZeroes = 1 << 6;
    public const ushort kTransmitSendDf = 1 << 7;
    public const ushort kTransmitCanMultiConn = 1 << 8;

    // Command flags (16 bits).
    public const ushort kCommandFua = 1 << 0;
    public const ushort kCommandNoHole = 1 << 1;
    public const ushort kCommandDf = 1 << 2;
    public const ushort kCommandReqOne = 1 << 3;
    public const ushort kCommandFastZero = 1 << 4;

    // Structured reply chunks.
    public const ushort kReplyFlagDone = 1 << 0;
    public const ushort kChunkNone = 0;
    public const ushort kChunkOffsetData = 1;
    public const ushort kChunkError = (1 << 15) + 1;

    // NBD_INFO types carried by NBD_REP_INFO.
    public const ushort kInfoExport = 0;
    public const ushort kInfoName = 1;
    public const ushort kInfoDescription = 2;
    public const ushort kInfoBlockSize = 3;

    public const int kHandshakeBytes = 8 + 8 + 2;
    public const int kOptionHeaderBytes = 8 + 4 + 4;
    public const int kOptionReplyHeaderBytes = 8 + 4 + 4 + 4;
    public const int kExportNameReplyZeroBytes = 124;
    public const int kRequestBytes = 4 + 2 + 2 + 8 + 8 + 4;
    public const int kSimpleReplyBytes = 4 + 4 + 8;
    public const int kStructuredReplyBytes = 4 + 2 + 2 + 8 + 4;

    /// <summary>Strings (export names, messages) must be no longer than this (proto.md, Conventions).</summary>
    public const int kMaxStringBytes = 4096;
}

/// <summary>Option types of the handshake (NBD_OPT_*).</summary>
internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    PeekExport = 4,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    BlockSize = 9,
    ListMetaContext = 10,
    SetMetaContext = 11,
    ExtendedHeaders = 12,
}

/// <summary>Option reply types (NBD_REP_*); errors have bit 31 set.</summary>
internal enum NbdOptionReply : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    ErrUnsupported = (1u << 31) + 1,
    ErrPolicy = (1u << 31) + 2,
    ErrInvalid = (1u << 31) + 3,
    ErrPlatform = (1u << 31) + 4,
    ErrTlsRequired = (1u << 31) + 5,
    ErrUnknown = (1u << 31) + 6,
    ErrShutdown = (1u << 31) + 7,
    ErrBlockSizeRequired = (1u << 31) + 8,
}

/// <summary>Request types of the transmission phase (NBD_CMD_*).</summary>
internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

/// <summary>Error values of a reply; the protocol fixes them to Linux errno numbers.</summary>
internal enum NbdError : uint
{
    None = 0,
    Perm = 1,
    Io = 5,
    NoMemory = 12,
    Invalid = 22,
    NoSpace = 28,
    Overflow = 75,
    NotSupported = 95,
    Shutdown = 108,
}
