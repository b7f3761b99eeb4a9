using System.Net.Sockets;
using System.Text;
using static System.Buffers.Binary.BinaryPrimitives;

namespace Raid5Actors.Tests.Nbd;

/// <summary>
/// A deliberately small NBD client written from proto.md for the protocol specs: it can do the
/// right thing step by step, or the wrong thing on purpose. It keeps its own constants rather
/// than the server's, so a wrong constant on either side shows up. Every read times out.
/// </summary>
internal sealed class NbdTestClient : IAsyncDisposable
{
    public const ulong kInitMagic = 0x4e42444d41474943; // "NBDMAGIC"
    public const ulong kOptionMagic = 0x49484156454f5054; // "IHAVEOPT"
    public const ulong kOptionReplyMagic = 0x0003e889045565a9;
    public const uint kRequestMagic = 0x25609513;
    public const uint kSimpleReplyMagic = 0x67446698;
    public const uint kStructuredReplyMagic = 0x668e33ef;

    public const uint kClientFixedNewstyle = 1;
    public const uint kClientNoZeroes = 2;

    public const uint kOptExportName = 1, kOptAbort = 2, kOptList = 3, kOptStartTls = 5, kOptInfo = 6, kOptGo = 7, kOptStructuredReply = 8, kOptSetMetaContext = 11;
    public const uint kRepAck = 1, kRepServer = 2, kRepInfo = 3;
    public const uint kRepErrUnsup = 0x80000001, kRepErrInvalid = 0x80000003, kRepErrUnknown = 0x80000006;
    public const ushort kInfoExport = 0, kInfoName = 1, kInfoDescription = 2, kInfoBlockSize = 3;

    public const ushort kCmdRead = 0, kCmdWrite = 1, kCmdDisc = 2, kCmdFlush = 3, kCmdTrim = 4, kCmdCache = 5, kCmdWriteZeroes = 6, kCmdBlockStatus = 7;
    public const ushort kCmdFlagFua = 1, kCmdFlagNoHole = 2, kCmdFlagDf = 4, kCmdFlagFastZero = 16;

    public const ushort kFlagHasFlags = 1, kFlagReadOnly = 2, kFlagSendFlush = 4, kFlagSendFua = 8, kFlagSendTrim = 32, kFlagSendWriteZeroes = 64, kFlagCanMultiConn = 256;

    public const uint EINVAL = 22, ENOSPC = 28, EIO = 5;

    private static readonly TimeSpan s_readTimeout = TimeSpan.FromSeconds(15);

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    private NbdTestClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    /// <summary>Transmission flags and size, once an export was chosen.</summary>
    public ushort TransmissionFlags { get; private set; }

    public ulong ExportBytes { get; private set; }

    public bool Structured { get; private set; }

    /// <summary>Connects and reads the server's greeting; returns the handshake flags.</summary>
    public static async Task<(NbdTestClient Client, ushort HandshakeFlags)> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var client = new NbdTestClient(tcp);
        var greeting = await client.ReadExactlyAsync(18);
        Assert.Equal(kInitMagic, ReadUInt64BigEndian(greeting));
        Assert.Equal(kOptionMagic, ReadUInt64BigEndian(greeting.AsSpan(8)));
        return (client, ReadUInt16BigEndian(greeting.AsSpan(16)));
    }

    /// <summary>The whole handshake the usual way: fixed newstyle, optionally structured replies, then NBD_OPT_GO.</summary>
    public static async Task<NbdTestClient> OpenAsync(int port, string exportName = "", bool structured = false)
    {
        var (client, _) = await ConnectAsync(port);
        await client.SendClientFlagsAsync(kClientFixedNewstyle | kClientNoZeroes);
        if (structured)
        {
            await client.SendOptionAsync(kOptStructuredReply, []);
            var reply = await client.ReadOptionReplyAsync();
            Assert.Equal((kOptStructuredReply, kRepAck), (reply.Option, reply.Type));
            client.Structured = true;
        }
        var go = await client.GoAsync(kOptGo, exportName);
        Assert.Equal(kRepAck, go.Final.Type);
        return client;
    }

    public Task SendClientFlagsAsync(uint flags)
    {
        var bytes = new byte[4];
        WriteUInt32BigEndian(bytes, flags);
        return SendAsync(bytes);
    }

    public Task SendOptionAsync(uint option, ReadOnlySpan<byte> data, ulong magic = kOptionMagic)
    {
        var bytes = new byte[16 + data.Length];
        WriteUInt64BigEndian(bytes, magic);
        WriteUInt32BigEndian(bytes.AsSpan(8), option);
        WriteUInt32BigEndian(bytes.AsSpan(12), (uint)data.Length);
        data.CopyTo(bytes.AsSpan(16));
        return SendAsync(bytes);
    }

    public async Task<OptionReply> ReadOptionReplyAsync()
    {
        var header = await ReadExactlyAsync(20);
        Assert.Equal(kOptionReplyMagic, ReadUInt64BigEndian(header));
        var length = ReadUInt32BigEndian(header.AsSpan(16));
        var data = await ReadExactlyAsync((int)length);
        return new OptionReply(ReadUInt32BigEndian(header.AsSpan(8)), ReadUInt32BigEndian(header.AsSpan(12)), data);
    }

    /// <summary>NBD_OPT_INFO or NBD_OPT_GO: every NBD_REP_INFO until the final reply (ACK or an error).</summary>
    public async Task<InfoResult> GoAsync(uint option, string exportName, params ushort[] requests)
    {
        var name = Encoding.UTF8.GetBytes(exportName);
        var data = new byte[4 + name.Length + 2 + 2 * requests.Length];
        WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        WriteUInt16BigEndian(data.AsSpan(4 + name.Length), (ushort)requests.Length);
        for (var i = 0; i < requests.Length; i++)
            WriteUInt16BigEndian(data.AsSpan(4 + name.Length + 2 + 2 * i), requests[i]);
        await SendOptionAsync(option, data);

        var infos = new Dictionary<ushort, byte[]>();
        while (true)
        {
            var reply = await ReadOptionReplyAsync();
            Assert.Equal(option, reply.Option);
            if (reply.Type != kRepInfo)
            {
                if (reply.Type == kRepAck && infos.TryGetValue(kInfoExport, out var export))
                {
                    ExportBytes = ReadUInt64BigEndian(export);
                    TransmissionFlags = ReadUInt16BigEndian(export.AsSpan(8));
                }
                return new InfoResult(infos, reply);
            }
            infos[ReadUInt16BigEndian(reply.Data)] = reply.Data[2..];
        }
    }

    public async Task SendRequestAsync(ushort command, ulong handle, ulong offset, uint length, ushort flags = 0, ReadOnlyMemory<byte> payload = default, uint magic = kRequestMagic)
    {
        var bytes = new byte[28 + payload.Length];
        WriteUInt32BigEndian(bytes, magic);
        WriteUInt16BigEndian(bytes.AsSpan(4), flags);
        WriteUInt16BigEndian(bytes.AsSpan(6), command);
        WriteUInt64BigEndian(bytes.AsSpan(8), handle);
        WriteUInt64BigEndian(bytes.AsSpan(16), offset);
        WriteUInt32BigEndian(bytes.AsSpan(24), length);
        payload.Span.CopyTo(bytes.AsSpan(28));
        await SendAsync(bytes);
    }

    /// <summary>
    /// One reply, simple or structured. <paramref name="readLength"/> says how many data bytes a
    /// successful simple reply to a handle carries (the length of a READ, else 0).
    /// </summary>
    public async Task<Reply> ReadReplyAsync(Func<ulong, int> readLength)
    {
        var magicBytes = await ReadExactlyAsync(4);
        var magic = ReadUInt32BigEndian(magicBytes);
        if (magic == kSimpleReplyMagic)
        {
            var rest = await ReadExactlyAsync(12);
            var error = ReadUInt32BigEndian(rest);
            var handle = ReadUInt64BigEndian(rest.AsSpan(4));
            var data = error == 0 ? await ReadExactlyAsync(readLength(handle)) : [];
            return new Reply(handle, error, data, null, Structured: false);
        }
        Assert.True(magic == kStructuredReplyMagic, $"reply magic 0x{magic:x8}");
        var chunk = await ReadExactlyAsync(16);
        var flags = ReadUInt16BigEndian(chunk);
        var type = ReadUInt16BigEndian(chunk.AsSpan(2));
        var chunkHandle = ReadUInt64BigEndian(chunk.AsSpan(4));
        var payload = await ReadExactlyAsync((int)ReadUInt32BigEndian(chunk.AsSpan(12)));
        Assert.True((flags & 1) == 1, "this server sends one chunk per reply, marked done");
        return type switch
        {
            0 => new Reply(chunkHandle, 0, [], null, Structured: true),
            1 => new Reply(chunkHandle, 0, payload[8..], ReadUInt64BigEndian(payload), Structured: true),
            0x8001 => new Reply(chunkHandle, ReadUInt32BigEndian(payload), [], null, Structured: true)
            {
                Message = Encoding.UTF8.GetString(payload, 6, ReadUInt16BigEndian(payload.AsSpan(4))),
            },
            _ => throw new Xunit.Sdk.XunitException($"unexpected chunk type {type}"),
        };
    }

    public async Task<Reply> ReadAsync(ulong handle, ulong offset, uint length, ushort flags = 0)
    {
        await SendRequestAsync(kCmdRead, handle, offset, length, flags);
        var reply = await ReadReplyAsync(_ => (int)length);
        Assert.Equal(handle, reply.Handle);
        return reply;
    }

    public async Task<Reply> WriteAsync(ulong handle, ulong offset, ReadOnlyMemory<byte> data, ushort flags = 0)
    {
        await SendRequestAsync(kCmdWrite, handle, offset, (uint)data.Length, flags, data);
        var reply = await ReadReplyAsync(_ => 0);
        Assert.Equal(handle, reply.Handle);
        return reply;
    }

    public async Task<Reply> CommandAsync(ushort command, ulong handle, ulong offset = 0, uint length = 0, ushort flags = 0)
    {
        await SendRequestAsync(command, handle, offset, length, flags);
        var reply = await ReadReplyAsync(_ => 0);
        Assert.Equal(handle, reply.Handle);
        return reply;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes) => await _stream.WriteAsync(bytes);

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        var bytes = new byte[count];
        using var timeout = new CancellationTokenSource(s_readTimeout);
        await _stream.ReadExactlyAsync(bytes, timeout.Token);
        return bytes;
    }

    /// <summary>True when the server closes the connection (end of stream or reset) within the timeout; false if bytes arrive instead.</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? s_readTimeout);
        var one = new byte[1];
        try
        {
            return await _stream.ReadAsync(one, cancel.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Closes at once with a reset (no FIN), as a crashed client would.</summary>
    public void Vanish()
    {
        _tcp.Client.LingerState = new LingerOption(true, 0);
        _tcp.Client.Close();
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    public sealed record OptionReply(uint Option, uint Type, byte[] Data);

    public sealed record InfoResult(IReadOnlyDictionary<ushort, byte[]> Infos, OptionReply Final);

    /// <summary>A reply: <see cref="Error"/> 0 for success; <see cref="ChunkOffset"/> only on a structured data chunk.</summary>
    public sealed record Reply(ulong Handle, uint Error, byte[] Data, ulong? ChunkOffset, bool Structured)
    {
        public string? Message { get; init; }
    }
}
