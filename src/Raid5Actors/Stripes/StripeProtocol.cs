namespace Raid5Actors.Stripes;

/// <summary>Messages between the array actor and a <see cref="StripeActor"/>.</summary>
public static class StripeProtocol
{
    /// <summary>
    /// Write <c>Data</c> at <c>OffsetInRowBytes</c> of the row's logical data (sector aligned).
    /// <c>Data</c> is lent by the array actor until the stripe answers for <c>RequestId</c>.
    /// </summary>
    public sealed record StripeWrite(long RequestId, int OffsetInRowBytes, ReadOnlyMemory<byte> Data);

    public sealed record StripeWriteCompleted(long RequestId, long Row);

    public sealed record StripeWriteFailed(long RequestId, long Row, string Reason);

    /// <summary>The stripe waits for its bitmap batch to become durable: time to unplug soon.</summary>
    public sealed record StripeParked(long Row);

    /// <summary>The bitmap is gone: fail the batch waiting for it and every later one (never write unprotected).</summary>
    public sealed class BitmapUnavailable
    {
        public static readonly BitmapUnavailable Instance = new();

        private BitmapUnavailable()
        {
        }
    }
}
