using System.Diagnostics;
using static System.Buffers.Binary.BinaryPrimitives;
using static Raid5Actors.Nbd.NbdProtocol;

namespace Raid5Actors.Nbd;

// Transmission, receiving side: the reader reads one request after another and starts each on the
// array without waiting for the previous ones; the number and bytes of requests in flight are
// bounded by slots and budgets, which the reader waits for before it reads further.
internal sealed partial class NbdConnection
{
    private const int kZeroWriteBytes = 1 << 20;
    private const int kZeroWritesInFlight = 4;

    // Source of TRIM and WRITE_ZEROES; the array copies what it is given, so one shared array serves all.
    private static readonly byte[] s_zeroes = new byte[kZeroWriteBytes];

    private readonly byte[] _requestHeader = new byte[kRequestBytes];

    /// <summary>A request being served. <see cref="Buffer"/> (READ/WRITE of a nonzero length) holds <see cref="LengthBytes"/> budget bytes.</summary>
    private readonly record struct NbdRequest(NbdCommand Command, ushort Flags, ulong Handle, long OffsetBytes, int LengthBytes, long ZeroBytes, byte[]? Buffer)
    {
        public bool Fua => (Flags & kCommandFua) != 0;
    }

    private async Task TransmitAsync(CancellationToken stopping)
    {
        var writer = WriteRepliesAsync();
        try
        {
            while (await ReadRequestAsync(stopping).ConfigureAwait(false))
            {
            }
            _log.Debug("NBD client disconnected");
        }
        catch (Exception e)
        {
            LogEnd(Phase.Transmission, e, stopping);
            if (e is NbdProtocolException)
                Abort(); // hard disconnect: the stream cannot be parsed further; requests already read still finish
        }
        finally
        {
            // Every request read is finished and its reply written or dropped before the writer is told there is no more.
            await DrainAsync().ConfigureAwait(false);
            _replies.Writer.Complete();
            await writer.ConfigureAwait(false);
        }
    }

    private async Task DrainAsync()
    {
        var slots = _options.MaxRequestsInFlightPerConnection;
        for (var i = 0; i < slots; i++)
            await _slots.WaitAsync().ConfigureAwait(false);
        _slots.Release(slots);
    }

    /// <summary>Reads and starts one request; false when the client is done (NBD_CMD_DISC, or it closed between requests).</summary>
    private async ValueTask<bool> ReadRequestAsync(CancellationToken stopping)
    {
        await _slots.WaitAsync(stopping).ConfigureAwait(false);
        var slotHandedOver = false;
        try
        {
            if (!await _input.ReadExactlyAsync(_requestHeader, stopping).ConfigureAwait(false))
                return false;
            var magic = ReadUInt32BigEndian(_requestHeader);
            if (magic != kRequestMagic)
                throw new NbdProtocolException($"bad request magic 0x{magic:x8}");
            var flags = ReadUInt16BigEndian(_requestHeader.AsSpan(4));
            var command = (NbdCommand)ReadUInt16BigEndian(_requestHeader.AsSpan(6));
            var handle = ReadUInt64BigEndian(_requestHeader.AsSpan(8));
            var offset = ReadUInt64BigEndian(_requestHeader.AsSpan(16));
            var length = ReadUInt32BigEndian(_requestHeader.AsSpan(24));
            if (command == NbdCommand.Disconnect)
                return false;

            var refusal = Check(command, flags, offset, length);
            if (command == NbdCommand.Write)
            {
                // Beyond the advertised maximum the server would have to swallow up to 4 GiB to stay in step.
                if (length > _options.MaxBlockBytes)
                    throw new NbdProtocolException($"write of {length} bytes exceeds the maximum block size of {_options.MaxBlockBytes}");
                if (refusal is not null)
                    await _input.SkipAsync(length, stopping).ConfigureAwait(false);
            }
            if (refusal is { } error)
            {
                _log.Debug("NBD {Command} [{Offset}, +{Length}) refused with {Error}: {Message}", command, offset, length, error.Error, error.Message);
                slotHandedOver = true;
                Interlocked.Increment(ref _counters.RequestsInFlight);
                Post(new NbdReply(handle, command, error.Error, error.Message, null, 0, 0));
                return true;
            }

            var request = new NbdRequest(command, flags, handle, (long)offset, 0, command is NbdCommand.Trim or NbdCommand.WriteZeroes ? length : 0, null);
            if (command is NbdCommand.Read or NbdCommand.Write && length > 0)
                request = request with { LengthBytes = (int)length, Buffer = await ReceiveBufferAsync(command, (int)length, stopping).ConfigureAwait(false) };
            slotHandedOver = true;
            Interlocked.Increment(ref _counters.RequestsInFlight);
            _ = ExecuteAsync(request);
            return true;
        }
        finally
        {
            if (!slotHandedOver)
                _slots.Release();
        }
    }

    /// <summary>Why a request is refused before it reaches the array, or null when it may go.</summary>
    private (NbdError Error, string Message)? Check(NbdCommand command, ushort flags, ulong offset, uint length)
    {
        // FUA is valid on every command (clients are known to set it on reads and flushes).
        ushort? allowedFlags = command switch
        {
            NbdCommand.Read or NbdCommand.Write or NbdCommand.Flush or NbdCommand.Trim => kCommandFua,
            NbdCommand.WriteZeroes => kCommandFua | kCommandNoHole,
            _ => null,
        };
        if (allowedFlags is not { } allowed)
            return (NbdError.Invalid, $"command {(ushort)command} is not supported");
        if ((flags & ~allowed) != 0)
            return (NbdError.Invalid, $"flags 0x{flags:x4} are not valid on {command}");
        if (_array.IsReadOnly && command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes)
            return (NbdError.Perm, "the export is read-only");
        if (command == NbdCommand.Flush)
            return null;
        if (offset % NbdServer.kMinimumBlockBytes != 0 || length % NbdServer.kMinimumBlockBytes != 0)
            return (NbdError.Invalid, $"offset {offset} and length {length} must be multiples of {NbdServer.kMinimumBlockBytes} bytes");
        var capacity = (ulong)_array.CapacityBytes;
        if (offset > capacity || length > capacity - offset)
        {
            // The spec asks for ENOSPC when a write goes past the end, EINVAL otherwise.
            var error = command == NbdCommand.Read ? NbdError.Invalid : NbdError.NoSpace;
            return (error, $"[{offset}, +{length}) goes beyond the end of the export ({capacity} bytes)");
        }
        if (command == NbdCommand.Read && length > _options.MaxBlockBytes)
            return (NbdError.Invalid, $"read of {length} bytes exceeds the maximum block size of {_options.MaxBlockBytes}");
        return null;
    }

    /// <summary>Takes budget and a buffer for a READ or WRITE; for a WRITE, fills it with the payload.</summary>
    private async ValueTask<byte[]> ReceiveBufferAsync(NbdCommand command, int lengthBytes, CancellationToken stopping)
    {
        await AcquireBytesAsync(lengthBytes, stopping).ConfigureAwait(false);
        var buffer = RentBuffer(lengthBytes);
        try
        {
            if (command == NbdCommand.Write)
                await _input.ReadRequiredAsync(buffer.AsMemory(0, lengthBytes), stopping).ConfigureAwait(false);
            return buffer;
        }
        catch
        {
            // The client vanished mid-payload (or the server stops): this write was never acknowledged.
            ReturnPayload(buffer, lengthBytes);
            throw;
        }
    }

    /// <summary>Serves one request on the array and posts its reply; never throws.</summary>
    private async Task ExecuteAsync(NbdRequest request)
    {
        NbdReply reply;
        try
        {
            reply = request.Command switch
            {
                NbdCommand.Read => await ReadAsync(request).ConfigureAwait(false),
                NbdCommand.Write => await WriteAsync(request).ConfigureAwait(false),
                NbdCommand.Flush => await FlushAsync(request).ConfigureAwait(false),
                NbdCommand.Trim or NbdCommand.WriteZeroes => await WriteZeroesAsync(request).ConfigureAwait(false),
                _ => throw new UnreachableException($"command {request.Command} passed the checks"),
            };
        }
        catch (Exception e)
        {
            reply = Failed(request, e);
        }
        Post(reply);
    }

    private async Task<NbdReply> ReadAsync(NbdRequest request)
    {
        if (request.Buffer is not { } buffer)
            return Succeeded(request);
        try
        {
            await _array.ReadAsync(request.OffsetBytes, buffer.AsMemory(0, request.LengthBytes)).ConfigureAwait(false);
        }
        catch
        {
            ReturnPayload(buffer, request.LengthBytes);
            throw;
        }
        // The buffer and its budget bytes now belong to the reply.
        return new NbdReply(request.Handle, request.Command, NbdError.None, null, buffer, request.LengthBytes, request.OffsetBytes);
    }

    private async Task<NbdReply> WriteAsync(NbdRequest request)
    {
        if (request.Buffer is not { } buffer)
            return Succeeded(request);
        try
        {
            await _array.WriteAsync(request.OffsetBytes, buffer.AsMemory(0, request.LengthBytes), request.Fua).ConfigureAwait(false);
        }
        finally
        {
            ReturnPayload(buffer, request.LengthBytes);
        }
        return Succeeded(request);
    }

    private async Task<NbdReply> FlushAsync(NbdRequest request)
    {
        await _array.FlushAsync().ConfigureAwait(false);
        return Succeeded(request);
    }

    /// <summary>WRITE_ZEROES, and TRIM unless trims are ignored: zeroes written in pieces, a few at a time; FUA becomes a flush at the end.</summary>
    private async Task<NbdReply> WriteZeroesAsync(NbdRequest request)
    {
        if (request.Command == NbdCommand.Trim && _options.Trim == NbdTrimMode.Ignore)
            return Succeeded(request);
        var pieceBytes = Math.Min(kZeroWriteBytes, _options.MaxBlockBytes);
        var end = request.OffsetBytes + request.ZeroBytes;
        var pending = new List<Task>(kZeroWritesInFlight);
        for (var offset = request.OffsetBytes; offset < end; offset += pieceBytes)
        {
            var bytes = (int)Math.Min(pieceBytes, end - offset);
            pending.Add(_array.WriteAsync(offset, s_zeroes.AsMemory(0, bytes)));
            if (pending.Count == kZeroWritesInFlight)
            {
                await Task.WhenAll(pending).ConfigureAwait(false);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending).ConfigureAwait(false);
        if (request.Fua)
            await _array.FlushAsync().ConfigureAwait(false);
        return Succeeded(request);
    }

    private static NbdReply Succeeded(NbdRequest request) => new(request.Handle, request.Command, NbdError.None, null, null, 0, request.OffsetBytes);

    private NbdReply Failed(NbdRequest request, Exception e)
    {
        var error = e switch
        {
            ArgumentException => NbdError.Invalid,
            ObjectDisposedException or OperationCanceledException => NbdError.Shutdown,
            _ => NbdError.Io,
        };
        if (e is Raid5Exception or TimeoutException or ArgumentException or ObjectDisposedException or OperationCanceledException)
            _log.Warning("NBD {Command} [{Offset}, +{Length}) failed with {Error}: {Reason}",
                request.Command, request.OffsetBytes, request.LengthBytes + request.ZeroBytes, error, e.Message);
        else
            _log.Error(e, "NBD {Command} [{Offset}, +{Length}) failed unexpectedly", request.Command, request.OffsetBytes, request.LengthBytes + request.ZeroBytes);
        return new NbdReply(request.Handle, request.Command, error, e.Message, null, 0, request.OffsetBytes);
    }

    private void Post(NbdReply reply)
    {
        // The channel has room for every slot and is completed only once they all came back; this reply holds one.
        if (_replies.Writer.TryWrite(reply))
            return;
        Debug.Fail("a reply found no room in its connection's channel");
        // Lost reply: the client would wait for it forever, so the connection cannot go on.
        _log.Error("NBD reply to {Command} {Handle} could not be queued; disconnecting", reply.Command, reply.Handle);
        Finish(reply);
        Abort();
    }

    private void ReturnPayload(byte[] buffer, int lengthBytes)
    {
        ReturnBuffer(buffer);
        ReleaseBytes(lengthBytes);
    }
}
