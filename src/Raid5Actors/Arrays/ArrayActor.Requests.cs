using Akka.Actor;
using Akka.Event;
using Raid5Actors.Bitmap;
using Raid5Actors.Buffers;
using Raid5Actors.Disks;
using static Raid5Actors.Arrays.ArrayProtocol;
using static Raid5Actors.Disks.MemberDiskProtocol;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Arrays;

/// <summary>Reads, writes and flushes: splitting them by chunk and row, and answering when every piece has.</summary>
public sealed partial class ArrayActor
{
    private enum RequestKind
    {
        Read,
        Write,
        Flush,
    }

    /// <summary>A request in flight and the pieces still out. The array owns <c>Buffer</c> until it answers.</summary>
    private sealed class PendingRequest(RequestKind kind, IActorRef replyTo, PooledBuffer? buffer, bool fua)
    {
        public RequestKind Kind { get; set; } = kind;

        public IActorRef ReplyTo { get; } = replyTo;

        public PooledBuffer? Buffer { get; } = buffer;

        public bool Fua { get; } = fua;

        public int Outstanding { get; set; }

        public string? Failure { get; set; }
    }

    private readonly Dictionary<long, PendingRequest> _pending = [];
    private long _nextRequestId;

    private void Running(object message)
    {
        switch (message)
        {
            case Read read:
                OnRead(read);
                break;
            case Write write:
                OnWrite(write);
                break;
            case Flush:
                StartFlush(new PendingRequest(RequestKind.Flush, Sender, null, fua: false), ++_nextRequestId);
                break;
            case ArrayProtocol.Stop:
                BeginStop(Sender);
                break;
            default:
                OnInternal(message);
                break;
        }
    }

    /// <summary>Messages from children and timers, handled the same while running and while stopping.</summary>
    private void OnInternal(object message)
    {
        switch (message)
        {
            case IoCompleted done:
                OnPieceAnswered(done.Tag, failure: null);
                break;
            case IoFailed failed:
                OnPieceAnswered(failed.Tag, $"member {failed.Role} ({_setup.Members[failed.Role].Store.Name}) {failed.Kind.ToString().ToLowerInvariant()} failed: {failed.Reason}");
                break;
            case StripeWriteCompleted done:
                OnStripeAnswered(done.Row);
                OnPieceAnswered(done.RequestId, failure: null);
                break;
            case StripeWriteFailed failed:
                OnStripeAnswered(failed.Row);
                OnPieceAnswered(failed.RequestId, failed.Reason);
                break;
            case StripeParked:
                OnStripeParked();
                break;
            case EndOfBurst:
                Unplug();
                break;
            case SweepIdleStripes:
                OnSweepIdleStripes();
                break;
            case BitmapProtocol.BitmapStatus status:
                OnBitmapStatus(status);
                break;
            case BitmapProtocol.Quiesced:
                OnQuiesced();
                break;
            case Terminated t when t.ActorRef.Equals(_bitmap):
                OnBitmapLost();
                break;
            case Terminated:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void OnRead(Read read)
    {
        var error = IoRange.Check(read.OffsetBytes, read.LengthBytes, _geometry.CapacityBytes, _settings.MaxRequestBytes);
        if (error is not null)
        {
            Sender.Tell(new RequestFailed(error));
            return;
        }
        var request = new PendingRequest(RequestKind.Read, Sender, PooledBuffer.Rent(read.LengthBytes), fua: false);
        var id = ++_nextRequestId;
        // Reads go straight to the member holding the data: an acknowledged write has completed
        // on that member, and the member answers in order, so the read sees it.
        var done = 0;
        while (done < read.LengthBytes)
        {
            var location = _geometry.Locate(read.OffsetBytes + done);
            var length = Math.Min(read.LengthBytes - done, _geometry.ChunkBytes - location.OffsetInChunk);
            _members[location.Member].Tell(new ReadBlock(id, location.MemberOffset, request.Buffer!.Memory.Slice(done, length)));
            request.Outstanding++;
            done += length;
        }
        Track(id, request);
    }

    private void OnWrite(Write write)
    {
        var error = _writesRefused is not null
            ? new Raid5Exception(_writesRefused)
            : IoRange.Check(write.OffsetBytes, write.Data.LengthBytes, _geometry.CapacityBytes, _settings.MaxRequestBytes);
        if (error is not null)
        {
            write.Data.Dispose();
            Sender.Tell(new RequestFailed(error));
            return;
        }
        var request = new PendingRequest(RequestKind.Write, Sender, write.Data, write.Fua);
        var id = ++_nextRequestId;
        var rowBytes = _geometry.RowDataBytes;
        var done = 0;
        while (done < write.Data.LengthBytes)
        {
            var position = write.OffsetBytes + done;
            var row = position / rowBytes;
            var offsetInRow = (int)(position % rowBytes);
            var length = (int)Math.Min(write.Data.LengthBytes - done, rowBytes - offsetInRow);
            request.Outstanding++;
            RouteToStripe(row, new StripeWrite(id, offsetInRow, write.Data.Memory.Slice(done, length)));
            done += length;
        }
        Track(id, request);
    }

    private void Track(long id, PendingRequest request)
    {
        if (request.Outstanding == 0)
            Complete(request);
        else
            _pending.Add(id, request);
    }

    private void StartFlush(PendingRequest request, long id)
    {
        Unplug();
        request.Outstanding = _members.Length;
        foreach (var member in _members)
            member.Tell(new FlushMember(id));
        _pending[id] = request;
    }

    private void OnPieceAnswered(long id, string? failure)
    {
        if (!_pending.TryGetValue(id, out var request))
            throw new InvalidOperationException($"answer for unknown request {id}");
        request.Failure ??= failure;
        if (--request.Outstanding > 0)
            return;
        _pending.Remove(id);
        if (request is { Kind: RequestKind.Write, Fua: true, Failure: null })
        {
            request.Kind = RequestKind.Flush;
            request.Buffer!.Dispose();
            StartFlush(request, id);
            return;
        }
        Complete(request);
    }

    private void Complete(PendingRequest request)
    {
        if (request.Failure is not null)
        {
            request.Buffer?.Dispose();
            request.ReplyTo.Tell(new RequestFailed(new Raid5IoException(request.Failure)));
        }
        else
        {
            switch (request.Kind)
            {
                case RequestKind.Read:
                    request.ReplyTo.Tell(new ReadCompleted(request.Buffer!));
                    break;
                case RequestKind.Write:
                    request.Buffer!.Dispose();
                    request.ReplyTo.Tell(WriteCompleted.Instance);
                    break;
                case RequestKind.Flush:
                    request.ReplyTo.Tell(request.Fua ? WriteCompleted.Instance : FlushCompleted.Instance);
                    break;
            }
        }
        if (_state == State.Stopping)
            ContinueStop();
    }

    private void OnBitmapLost()
    {
        // I1 cannot be kept without a bitmap: refuse writes from now on instead of writing unprotected.
        _writesRefused = "the write-intent bitmap could not be written; the array accepts no more writes (reads still work)";
        _log.Error(_writesRefused);
        _bitmap = null;
        foreach (var slot in _stripes.Values)
            slot.Stripe.Tell(BitmapUnavailable.Instance);
        while (_waiting.Count > 0)
        {
            var (_, write) = _waiting.Dequeue();
            OnPieceAnswered(write.RequestId, _writesRefused);
        }
    }
}
