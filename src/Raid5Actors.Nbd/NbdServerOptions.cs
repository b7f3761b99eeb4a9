using System.Net;

namespace Raid5Actors.Nbd;

/// <summary>What <c>NBD_CMD_TRIM</c> does. Either is allowed: after a trim a client may assume nothing about the range.</summary>
public enum NbdTrimMode
{
    /// <summary>Write zeroes over the range: reads after a trim are deterministic. Costs the writes.</summary>
    WriteZeroes,

    /// <summary>Acknowledge and keep the old data (the array has no notion of unallocated space).</summary>
    Ignore,
}

/// <summary>How an <see cref="NbdServer"/> listens and what it allows. Every property is optional.</summary>
public sealed record NbdServerOptions
{
    /// <summary>NBD's IANA port.</summary>
    public const int kDefaultPort = 10809;

    /// <summary>Address to listen on; loopback unless told otherwise, since NBD has no authentication.</summary>
    public IPAddress BindAddress { get; init; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (see <see cref="NbdServer.Port"/>).</summary>
    public int Port { get; init; } = kDefaultPort;

    /// <summary>Name of the export besides the default export <c>""</c>; both serve the same array.</summary>
    public string ExportName { get; init; } = "raid5";

    /// <summary>Sent as NBD_INFO_DESCRIPTION when a client asks for it.</summary>
    public string Description { get; init; } = "Raid5Actors RAID5 array";

    public int MaxConnections { get; init; } = 64;

    /// <summary>Requests read from one connection and not yet answered; the reader stops reading beyond it.</summary>
    public int MaxRequestsInFlightPerConnection { get; init; } = 128;

    /// <summary>Read and write payload bytes one connection may hold at once.</summary>
    public long ConnectionBufferBytes { get; init; } = 64L << 20;

    /// <summary>Read and write payload bytes all connections together may hold at once.</summary>
    public long ServerBufferBytes { get; init; } = 512L << 20;

    /// <summary>
    /// Largest READ/WRITE payload (NBD_INFO_BLOCK_SIZE maximum). Must not exceed the array's
    /// <c>raid5.max-request-bytes</c> (32 MiB by default); TRIM and WRITE_ZEROES are cut into pieces of this size.
    /// </summary>
    public int MaxBlockBytes { get; init; } = 32 << 20;

    /// <summary>NBD_INFO_BLOCK_SIZE preferred size: smaller writes cost a read-modify-write of a 4 KiB column.</summary>
    public int PreferredBlockBytes { get; init; } = 4096;

    /// <summary>A client that has not reached the transmission phase by then is disconnected.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>On stop, how long connections get to finish their requests before they are cut.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);

    public NbdTrimMode Trim { get; init; } = NbdTrimMode.WriteZeroes;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that cannot work.</summary>
    public void Validate()
    {
        if (Port is < 0 or > IPEndPoint.MaxPort)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "a TCP port is 0 to 65535");
        if (System.Text.Encoding.UTF8.GetByteCount(ExportName) > NbdProtocol.kMaxStringBytes || ExportName.Contains('\0'))
            throw new ArgumentException($"an export name is at most {NbdProtocol.kMaxStringBytes} UTF-8 bytes without NUL", nameof(ExportName));
        if (System.Text.Encoding.UTF8.GetByteCount(Description) > NbdProtocol.kMaxStringBytes)
            throw new ArgumentException($"a description is at most {NbdProtocol.kMaxStringBytes} UTF-8 bytes", nameof(Description));
        if (MaxConnections < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "must be at least 1");
        if (MaxRequestsInFlightPerConnection < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxRequestsInFlightPerConnection), MaxRequestsInFlightPerConnection, "must be at least 1");
        if (MaxBlockBytes < NbdServer.kMinimumBlockBytes || MaxBlockBytes % NbdServer.kMinimumBlockBytes != 0)
            throw new ArgumentOutOfRangeException(nameof(MaxBlockBytes), MaxBlockBytes, $"must be a positive multiple of {NbdServer.kMinimumBlockBytes}");
        if (PreferredBlockBytes < NbdServer.kMinimumBlockBytes || !int.IsPow2(PreferredBlockBytes) || PreferredBlockBytes > MaxBlockBytes)
            throw new ArgumentOutOfRangeException(nameof(PreferredBlockBytes), PreferredBlockBytes,
                $"must be a power of two from {NbdServer.kMinimumBlockBytes} to MaxBlockBytes");
        if (ConnectionBufferBytes < MaxBlockBytes)
            throw new ArgumentOutOfRangeException(nameof(ConnectionBufferBytes), ConnectionBufferBytes, "must hold at least one request of MaxBlockBytes");
        if (ServerBufferBytes < ConnectionBufferBytes)
            throw new ArgumentOutOfRangeException(nameof(ServerBufferBytes), ServerBufferBytes, "must be at least ConnectionBufferBytes");
        if (HandshakeTimeout <= TimeSpan.Zero || ShutdownGrace < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), "timeouts must be positive");
    }
}
