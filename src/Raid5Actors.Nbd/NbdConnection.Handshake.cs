using System.Net.Sockets;
using System.Text;
using static System.Buffers.Binary.BinaryPrimitives;
using static Raid5Actors.Nbd.NbdProtocol;

namespace Raid5Actors.Nbd;

// Fixed newstyle handshake and option haggling: one option at a time, each answered before the
// next is read, on the reader's task alone.
internal sealed partial class NbdConnection
{
    // Enough for any option this server knows (a name of at most 4096 bytes plus INFO requests);
    // a client announcing more is not negotiating in good faith.
    private const int kMaxOptionDataBytes = 64 << 10;
    private const int kMaxOptions = 256;

    private const ushort kTransmissionFlags =
        kTransmitHasFlags | kTransmitSendFlush | kTransmitSendFua | kTransmitSendTrim | kTransmitSendWriteZeroes
        // Flush covers writes completed on every connection (the array flushes all members), and
        // every connection reads the one array: what one connection acknowledged, all see.
        | kTransmitCanMultiConn;

    private ushort TransmissionFlags => _array.IsReadOnly ? (ushort)(kTransmissionFlags | kTransmitReadOnly) : kTransmissionFlags;

    private bool _structuredReplies;

    /// <summary>Runs the handshake; true when the client chose the export and transmission starts.</summary>
    private async Task<bool> NegotiateAsync(CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.HandshakeTimeout);
        var cancellationToken = timeout.Token;

        var greeting = new byte[kHandshakeBytes];
        WriteUInt64BigEndian(greeting, kInitMagic);
        WriteUInt64BigEndian(greeting.AsSpan(8), kOptionMagic);
        WriteUInt16BigEndian(greeting.AsSpan(16), kFlagFixedNewstyle | kFlagNoZeroes);
        await _stream.WriteAsync(greeting, cancellationToken).ConfigureAwait(false);

        var clientFlagBytes = new byte[4];
        if (!await _input.ReadExactlyAsync(clientFlagBytes, cancellationToken).ConfigureAwait(false))
            return false;
        var clientFlags = ReadUInt32BigEndian(clientFlagBytes);
        if ((clientFlags & ~kKnownClientFlags) != 0)
            throw new NbdProtocolException($"unknown client flags 0x{clientFlags:x8}");
        // Plain newstyle clients cannot read option replies; the spec lets a server refuse them.
        if ((clientFlags & kClientFixedNewstyle) == 0)
            throw new NbdProtocolException("the client does not speak fixed newstyle");
        var noZeroes = (clientFlags & kClientNoZeroes) != 0;

        var header = new byte[kOptionHeaderBytes];
        for (var count = 0; count < kMaxOptions; count++)
        {
            await _input.ReadRequiredAsync(header, cancellationToken).ConfigureAwait(false);
            var magic = ReadUInt64BigEndian(header);
            if (magic != kOptionMagic)
                throw new NbdProtocolException($"bad option magic 0x{magic:x16}");
            var option = (NbdOption)ReadUInt32BigEndian(header.AsSpan(8));
            var lengthBytes = ReadUInt32BigEndian(header.AsSpan(12));
            if (lengthBytes > kMaxOptionDataBytes)
                throw new NbdProtocolException($"option {option} announces {lengthBytes} bytes of data");
            var data = new byte[lengthBytes];
            await _input.ReadRequiredAsync(data, cancellationToken).ConfigureAwait(false);

            var next = await AnswerOptionAsync(option, data, noZeroes, cancellationToken).ConfigureAwait(false);
            if (next is not null)
                return next.Value;
        }
        throw new NbdProtocolException($"more than {kMaxOptions} options");
    }

    /// <summary>Answers one option: null to go on haggling, true to start transmission, false to close.</summary>
    private async Task<bool?> AnswerOptionAsync(NbdOption option, byte[] data, bool noZeroes, CancellationToken cancellationToken)
    {
        switch (option)
        {
            case NbdOption.ExportName:
                return await AnswerExportNameAsync(data, noZeroes, cancellationToken).ConfigureAwait(false);
            case NbdOption.Abort:
                // The client drops the connection next; it may not even wait for this ACK.
                await TrySendOptionReplyAsync(option, NbdOptionReply.Ack, cancellationToken).ConfigureAwait(false);
                _log.Debug("NBD client aborted the handshake");
                return false;
            case NbdOption.List:
                await AnswerListAsync(data, cancellationToken).ConfigureAwait(false);
                return null;
            case NbdOption.Info or NbdOption.Go:
                return await AnswerInfoAsync(option, data, cancellationToken).ConfigureAwait(false) && option == NbdOption.Go ? true : null;
            case NbdOption.StructuredReply:
                if (data.Length != 0)
                {
                    await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY carries no data", cancellationToken).ConfigureAwait(false);
                    return null;
                }
                _structuredReplies = true;
                await SendOptionReplyAsync(option, NbdOptionReply.Ack, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
                return null;
            default:
                // STARTTLS, meta contexts (base:allocation), extended headers and anything newer.
                await SendOptionErrorAsync(option, NbdOptionReply.ErrUnsupported, $"option {(uint)option} is not supported by this server", cancellationToken)
                    .ConfigureAwait(false);
                return null;
        }
    }

    private async Task<bool> AnswerExportNameAsync(byte[] data, bool noZeroes, CancellationToken cancellationToken)
    {
        var name = Encoding.UTF8.GetString(data);
        if (!IsExport(name))
        {
            // NBD_OPT_EXPORT_NAME has no error reply: the only refusal is closing.
            _log.Information("NBD client asked for unknown export {ExportName} with NBD_OPT_EXPORT_NAME; disconnected", name);
            return false;
        }
        var reply = new byte[8 + 2 + (noZeroes ? 0 : kExportNameReplyZeroBytes)];
        WriteUInt64BigEndian(reply, (ulong)_array.CapacityBytes);
        WriteUInt16BigEndian(reply.AsSpan(8), TransmissionFlags);
        await _stream.WriteAsync(reply, cancellationToken).ConfigureAwait(false);
        _log.Debug("NBD client chose export {ExportName} with NBD_OPT_EXPORT_NAME", name);
        return true;
    }

    private async Task AnswerListAsync(byte[] data, CancellationToken cancellationToken)
    {
        if (data.Length != 0)
        {
            await SendOptionErrorAsync(NbdOption.List, NbdOptionReply.ErrInvalid, "NBD_OPT_LIST carries no data", cancellationToken).ConfigureAwait(false);
            return;
        }
        // One entry: the named export ("" is its alias, reserved for the default export).
        var name = Encoding.UTF8.GetBytes(_options.ExportName);
        var server = new byte[4 + name.Length];
        WriteUInt32BigEndian(server, (uint)name.Length);
        name.CopyTo(server, 4);
        await SendOptionReplyAsync(NbdOption.List, NbdOptionReply.Server, server, cancellationToken).ConfigureAwait(false);
        await SendOptionReplyAsync(NbdOption.List, NbdOptionReply.Ack, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>NBD_OPT_INFO / NBD_OPT_GO; true when the export was described and acknowledged.</summary>
    private async Task<bool> AnswerInfoAsync(NbdOption option, byte[] data, CancellationToken cancellationToken)
    {
        // 32-bit name length, name, 16-bit count of information requests, 16 bits each.
        if (data.Length < 6 || ReadUInt32BigEndian(data) > (uint)(data.Length - 6))
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "the export name does not fit the option", cancellationToken).ConfigureAwait(false);
            return false;
        }
        var nameBytes = (int)ReadUInt32BigEndian(data);
        var name = Encoding.UTF8.GetString(data, 4, nameBytes);
        var requestCount = ReadUInt16BigEndian(data.AsSpan(4 + nameBytes));
        var requests = data.AsMemory(4 + nameBytes + 2);
        if (requests.Length != requestCount * 2)
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrInvalid, "the information requests do not match their count", cancellationToken).ConfigureAwait(false);
            return false;
        }
        if (!IsExport(name))
        {
            await SendOptionErrorAsync(option, NbdOptionReply.ErrUnknown, $"no export is named '{name}'", cancellationToken).ConfigureAwait(false);
            return false;
        }

        var export = new byte[2 + 8 + 2];
        WriteUInt16BigEndian(export, kInfoExport);
        WriteUInt64BigEndian(export.AsSpan(2), (ulong)_array.CapacityBytes);
        WriteUInt16BigEndian(export.AsSpan(10), TransmissionFlags);
        await SendOptionReplyAsync(option, NbdOptionReply.Info, export, cancellationToken).ConfigureAwait(false);

        if (Requested(requests.Span, kInfoName))
            await SendInfoStringAsync(option, kInfoName, _options.ExportName, cancellationToken).ConfigureAwait(false);
        if (Requested(requests.Span, kInfoDescription))
            await SendInfoStringAsync(option, kInfoDescription, _options.Description, cancellationToken).ConfigureAwait(false);

        // Sent whether asked or not: the array takes only whole 512-byte sectors.
        var blockSize = new byte[2 + 4 + 4 + 4];
        WriteUInt16BigEndian(blockSize, kInfoBlockSize);
        WriteUInt32BigEndian(blockSize.AsSpan(2), NbdServer.kMinimumBlockBytes);
        WriteUInt32BigEndian(blockSize.AsSpan(6), (uint)_options.PreferredBlockBytes);
        WriteUInt32BigEndian(blockSize.AsSpan(10), (uint)_options.MaxBlockBytes);
        await SendOptionReplyAsync(option, NbdOptionReply.Info, blockSize, cancellationToken).ConfigureAwait(false);

        await SendOptionReplyAsync(option, NbdOptionReply.Ack, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        if (option == NbdOption.Go)
            _log.Debug("NBD client chose export {ExportName} with NBD_OPT_GO (structured replies: {Structured})", name, _structuredReplies);
        return true;
    }

    private static bool Requested(ReadOnlySpan<byte> requests, ushort info)
    {
        for (var i = 0; i + 1 < requests.Length; i += 2)
        {
            if (ReadUInt16BigEndian(requests[i..]) == info)
                return true;
        }
        return false;
    }

    private bool IsExport(string name) => name.Length == 0 || name == _options.ExportName;

    private Task SendInfoStringAsync(NbdOption option, ushort info, string text, CancellationToken cancellationToken)
    {
        var bytes = new byte[2 + Encoding.UTF8.GetByteCount(text)];
        WriteUInt16BigEndian(bytes, info);
        Encoding.UTF8.GetBytes(text, bytes.AsSpan(2));
        return SendOptionReplyAsync(option, NbdOptionReply.Info, bytes, cancellationToken);
    }

    private Task SendOptionErrorAsync(NbdOption option, NbdOptionReply error, string message, CancellationToken cancellationToken)
    {
        _log.Debug("NBD option {Option} refused with {Reply}: {Message}", option, error, message);
        return SendOptionReplyAsync(option, error, Encoding.UTF8.GetBytes(message), cancellationToken);
    }

    private async Task SendOptionReplyAsync(NbdOption option, NbdOptionReply type, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var reply = new byte[kOptionReplyHeaderBytes + data.Length];
        WriteUInt64BigEndian(reply, kOptionReplyMagic);
        WriteUInt32BigEndian(reply.AsSpan(8), (uint)option);
        WriteUInt32BigEndian(reply.AsSpan(12), (uint)type);
        WriteUInt32BigEndian(reply.AsSpan(16), (uint)data.Length);
        data.Span.CopyTo(reply.AsSpan(kOptionReplyHeaderBytes));
        await _stream.WriteAsync(reply, cancellationToken).ConfigureAwait(false);
    }

    private async Task TrySendOptionReplyAsync(NbdOption option, NbdOptionReply type, CancellationToken cancellationToken)
    {
        try
        {
            await SendOptionReplyAsync(option, type, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
        }
    }
}
