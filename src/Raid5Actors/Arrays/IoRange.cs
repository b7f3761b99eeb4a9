using Raid5Actors.Geometry;

namespace Raid5Actors.Arrays;

/// <summary>Checks of a logical I/O range, shared by the API (before anything is sent) and the array actor.</summary>
public static class IoRange
{
    /// <summary>Null when the range is valid; otherwise the error to report, naming the problem.</summary>
    public static Exception? Check(long offsetBytes, long lengthBytes, long capacityBytes, int maxRequestBytes)
    {
        if (offsetBytes < 0 || lengthBytes < 0)
            return new ArgumentOutOfRangeException(nameof(offsetBytes), $"offset {offsetBytes} and length {lengthBytes} must not be negative");
        if (offsetBytes % ArrayGeometry.kSectorBytes != 0 || lengthBytes % ArrayGeometry.kSectorBytes != 0)
            return new ArgumentException(
                $"offset {offsetBytes} and length {lengthBytes} must be multiples of {ArrayGeometry.kSectorBytes} bytes (the array's sector size)");
        if (lengthBytes > maxRequestBytes)
            return new ArgumentOutOfRangeException(nameof(lengthBytes), $"length {lengthBytes} exceeds the largest request of {maxRequestBytes} bytes (raid5.max-request-bytes)");
        if (offsetBytes > capacityBytes - lengthBytes)
            return new ArgumentOutOfRangeException(nameof(offsetBytes),
                $"I/O [{offsetBytes}, {offsetBytes + lengthBytes}) goes beyond the end of the array ({capacityBytes} bytes)");
        return null;
    }
}
